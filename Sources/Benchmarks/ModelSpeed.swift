// ModelSpeed: what `reidprune bench train` and `bench infer` measure: the architecture
// named on the command line (or carried by a model file), optionally pruned first to a
// FLOPs fraction, timed by the library's ModelBenchmark on every rank.
import Foundation
import NN
import Pruning
import Distributed
import Tensors
import Training

public struct BenchmarkError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

public enum ModelSpeed {
    /// The architecture to time and its name: `weights`' (possibly pruned) one (which
    /// `arch`, when given, must match), else `arch` (default resnet50) with `lastStride`;
    /// pruned first (L1, global ranking) to `pruneTo` of its FLOPs when given.
    public static func architecture(arch: String?, lastStride: Int, weights: String?, pruneTo: Double?, roundTo: Int,
                                    scope: String, height: Int, width: Int) throws -> (ResNetArchitecture, String) {
        var architecture: ResNetArchitecture
        if let weights {
            architecture = try ModelWeights.loadNet(weights, expected: arch).architecture
        } else {
            guard let depth = ResNetArchitecture.Depth(name: arch ?? "resnet50") else {
                throw BenchmarkError("--arch must be one of resnet18, resnet34, resnet50, resnet101; got '\(arch ?? "")'")
            }
            architecture = .resnet(depth, lastStride: lastStride)
        }
        let name = architecture.depthName
        guard let pruneTo else { return (architecture, name) }
        guard pruneTo > 0 && pruneTo <= 1 else { throw BenchmarkError("--prune-to must be in (0, 1]") }
        guard let pruneScope = PruneScope(rawValue: scope) else { throw BenchmarkError("--prune-scope must be inner or all") }
        return (try ModelBenchmark.prunedArchitecture(architecture, fraction: pruneTo, height: height, width: width,
                                                      roundTo: roundTo, scope: pruneScope), name)
    }

    /// Times training or inference steps of `architecture` across the ranks of `comm`.
    /// - Important: Collective — every rank calls this, in the same order.
    public static func run(training: Bool, architecture: ResNetArchitecture, archName: String, height: Int, width: Int,
                           batch: Int, threads: Int, steps: Int, sync: String, task: String = "reid",
                           precision: String = "fp32", gradientPrecision: String = "fp32",
                           comm: Communicator) throws -> ModelBenchmarkResult {
        // Every rank checks the same options: an error in them is printed once.
        let (arithmetic, sent, mode, headTask) = try comm.onEveryRank { () throws -> (Precision, Precision, SyncMode, HeadTask) in
            guard let arithmetic = Precision(rawValue: precision) else {
                throw BenchmarkError("--precision must be fp32 or bf16, got '\(precision)'")
            }
            guard let sent = Precision(rawValue: gradientPrecision) else {
                throw BenchmarkError("--gradient-precision must be fp32 or bf16, got '\(gradientPrecision)'")
            }
            guard let mode = SyncMode(rawValue: sync) else { throw BenchmarkError("--sync must be blocking or overlapped, got '\(sync)'") }
            guard let headTask = HeadTask(rawValue: task) else {
                throw BenchmarkError("--task must be reid or classification, got '\(task)'")
            }
            if training && batch < 2 && headTask == .reid {
                throw BenchmarkError("training needs --batch of at least 2 (the triplet loss compares images)")
            }
            guard batch % comm.size == 0 else { throw BenchmarkError("--batch \(batch) does not split over \(comm.size) ranks") }
            return (arithmetic, sent, mode, headTask)
        }
        return try ModelBenchmark.run(training: training, architecture: architecture, archName: archName, height: height,
                                      width: width, batch: batch, threads: threads, steps: steps, comm: comm, sync: mode,
                                      task: headTask, precision: arithmetic, gradientPrecision: sent)
    }
}

extension ModelBenchmarkResult {
    /// One line for the console.
    public var text: String {
        // (Inference has no gradients to sync.)
        let synced = mode == "train" ? String(format: "gradient sync %.1f%% of the step (%@), ", 100 * sync_share,
                                              sync + (gradient_precision == "bf16" ? ", bf16 gradients" : "")) : ""
        return String(format: "%@ %@%@ %dx%d batch %d %@, %d rank(s) x %d threads: %.2f images/s (%.1f ms/step), "
                      + "%@peak RSS %.0f MB", mode, arch,
                      task == "classification" ? " classification (fc 1000)" : "", height, width, batch, precision, ranks,
                      threads, images_per_s, ms_per_step, synced, peak_rss_mb) + phases + stepTimes
    }

    /// Training: a line of median phase times and a line of convolution time per pass
    /// (whole calls, then inside the primitives), or "".
    private var stepTimes: String {
        guard let p = phases_ms, let c = conv_ms, let inside = conv_primitive_ms, let w = conv_weight_reorder_ms,
              let n = conv_calls else { return "" }
        let step = ms_per_step / 100
        return String(format: "\nphases (median ms): forward %.1f, losses %.1f, backward %.1f, update %.1f, other %.1f",
                      p.forward, p.losses, p.backward, p.update, p.other)
            + String(format: "\nconvolutions (median ms per step, %% of the step): forward %.1f (%.1f%%), "
                     + "backward-data %.1f (%.1f%%), backward-weights %.1f (%.1f%%), total %.1f (%.1f%%); "
                     + "inside the primitives %.1f (%.1f%%), weight reorders %.1f, activation reorders %.1f; "
                     + "calls %d / %d / %d",
                     c.forward, c.forward / step, c.backward_data, c.backward_data / step, c.backward_weights,
                     c.backward_weights / step, c.total, c.total / step, inside.total, inside.total / step,
                     w.total, max(0, c.total - inside.total - w.total), n.forward, n.backward_data, n.backward_weights)
    }

    /// A second line: memory after the model, the trainer and each phase of the first step, or "".
    private var phases: String {
        guard !memory.isEmpty else { return "" }
        return "\nmemory (peak / resident / tensor pool MB): " + memory.map {
            String(format: "%@ %.0f / %.0f / %.0f", $0.phase, $0.peak_rss_mb, $0.rss_mb, $0.pool_mb)
        }.joined(separator: ", ")
    }
}
