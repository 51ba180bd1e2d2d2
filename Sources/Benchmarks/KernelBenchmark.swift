// KernelBenchmark: `reidprune bench ops` as lines of text or JSON: every distinct
// ResNet-50 convolution (forward, backward-data, backward-weights) and sgemm 1024^3,
// timed by Tensors' OpsBenchmark.
import Foundation
import Tensors
import Training

public enum KernelBenchmark {
    /// Times the kernels and hands each line to `emit` as it is measured.
    public static func run(threads: Int, layout: String, height: Int, width: Int, batch: Int, repeats: Int, json: Bool,
                           precision: String = "fp32", emit: (String) -> Void) throws {
        guard let format = ActivationFormat(rawValue: layout) else {
            throw BenchmarkError("--layout must be nhwc or blocked, got '\(layout)'")
        }
        guard let arithmetic = Precision(rawValue: precision) else {
            throw BenchmarkError("--precision must be fp32 or bf16, got '\(precision)'")
        }
        try arithmetic.requireSupported(key: "--precision")
        // threads, batch, repeats >= 1 and sides 32...ImageLimits.maxSide: `bench ops` checks them when it parses.
        precondition(threads >= 1 && batch >= 1 && repeats >= 1, "KernelBenchmark.run: counts below 1")
        let pad = TextColumns.pad
        if !json {
            emit("oneDNN \(DNNL.version), \(threads) threads, layout \(layout), \(precision), ResNet-50 at \(height)x\(width), "
                 + "batch \(batch)")
            emit(pad("op", 6, false) + pad("pass", 18, false) + pad("shape", 44, false) + pad("uses", 6, true)
                 + pad("ms", 10, true) + pad("GFLOP/s", 10, true) + "  implementation")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var failure: Error?
        OpsBenchmark.run(threads: threads, format: format, height: height, width: width, batch: batch,
                         repeats: repeats, precision: arithmetic) { r in
            if json {
                do { emit(String(decoding: try encoder.encode(r), as: UTF8.self)) } catch { failure = error }
            } else {
                emit(pad(r.op, 6, false) + pad(r.pass, 18, false) + pad(r.shape, 44, false) + pad("\(r.count)", 6, true)
                     + pad(String(format: "%.2f", r.ms), 10, true) + pad(String(format: "%.1f", r.gflops), 10, true)
                     + "  " + r.implementation)
            }
        }
        if let failure { throw failure }
    }
}
