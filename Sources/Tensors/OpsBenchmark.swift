// OpsBenchmark: times every distinct convolution of ResNet-50 (forward, backward-data,
// backward-weights) at a given input size and batch, and sgemm 1024^3, for
// `reidprune bench ops`. Reports per shape and the network total (each shape weighted
// by how often the network uses it).
import CDNNL
import Foundation

/// One timed kernel: `ms` is the median over repeats, `gflops` its rate.
public struct OpsResult: Codable, Sendable {
    public var op: String
    public var pass: String
    public var shape: String
    /// How many times the network uses this shape (1 for sgemm).
    public var count: Int
    public var ms: Double
    public var gflops: Double
    public var layout: String
    public var implementation: String
}

/// The benchmark of `reidprune bench ops`.
public enum OpsBenchmark {
    /// The distinct convolutions of a torchvision ResNet-50 (stride on the 3x3, 1x1
    /// downsample) for an input of (batch, height, width, 3), with their use counts.
    public static func resnet50Convolutions(height: Int, width: Int, batch: Int) -> [(ConvGeometry, Int)] {
        var found: [ConvGeometry: Int] = [:]
        var order: [ConvGeometry] = []
        func add(_ g: ConvGeometry) {
            if found[g] == nil { order.append(g) }
            found[g, default: 0] += 1
        }
        let stem = ConvGeometry(batch: batch, inChannels: 3, height: height, width: width, outChannels: 64, kernel: 7,
                                stride: 2, padding: 3)
        add(stem)
        var h = (stem.outHeight + 2 - 3) / 2 + 1, w = (stem.outWidth + 2 - 3) / 2 + 1
        var inC = 64
        for (stage, (planes, blocks)) in [(64, 3), (128, 4), (256, 6), (512, 3)].enumerated() {
            for b in 0..<blocks {
                let stride = (b == 0 && stage > 0) ? 2 : 1
                let c1 = ConvGeometry(batch: batch, inChannels: inC, height: h, width: w, outChannels: planes, kernel: 1)
                let c2 = ConvGeometry(batch: batch, inChannels: planes, height: h, width: w, outChannels: planes, kernel: 3,
                                      stride: stride, padding: 1)
                let c3 = ConvGeometry(batch: batch, inChannels: planes, height: c2.outHeight, width: c2.outWidth,
                                      outChannels: planes * 4, kernel: 1)
                add(c1); add(c2); add(c3)
                if b == 0 {
                    add(ConvGeometry(batch: batch, inChannels: inC, height: h, width: w, outChannels: planes * 4,
                                     kernel: 1, stride: stride))
                }
                inC = planes * 4
                h = c2.outHeight
                w = c2.outWidth
            }
        }
        return order.map { ($0, found[$0]!) }
    }

    /// Runs the benchmark; `report` receives each result as soon as it is measured. In
    /// `.bf16` with `.nhwc` the times include converting the f32 channels-last inputs to
    /// bf16 (what training does); with `.blocked` the buffers already hold bf16 data.
    public static func run(threads: Int, format: ActivationFormat, height: Int = 256, width: Int = 128, batch: Int = 32,
                           repeats: Int = 5, precision: Precision = .fp32, report: (OpsResult) -> Void) {
        DNNL.setThreads(threads)
        var totals: [String: (flops: Double, seconds: Double)] = [:]
        // A bf16 port's bytes are the primitive's; its f32 callers' data is twice that.
        let widen = precision == .bf16 ? 2 : 1
        func scratch(_ bytes: Int) -> AlignedBuffer { Self.scratch(bytes * widen) }
        for (plain, count) in resnet50Convolutions(height: height, width: width, batch: batch) {
            var g = plain
            g.precision = precision
            let plan = Convolution.plan(g, format: format)
            let flops = 2 * Double(g.macs)
            let src = AlignedBuffer(byteCount: plan.fSrc.bytes * widen), dst = AlignedBuffer(byteCount: plan.fDst.bytes)
            let weights = AlignedBuffer(byteCount: plan.fWeights.bytes)
            fillRandom(src); fillRandom(dst); fillRandom(weights)
            let bias = g.hasBias ? AlignedBuffer(byteCount: g.outChannels * 4) : nil
            let passes: [(String, () -> Void)] = [
                ("forward", { plan.runForward(x: src.pointer, packedWeight: weights.pointer, bias: bias?.pointer,
                                              y: dst.pointer) }),
                ("backward_data", {
                    let b = plan.backwardDataPlan
                    let dxBuf = scratch(b.diffSrc.bytes), wBuf = scratch(b.weights.bytes), dyBuf = scratch(b.diffDst.bytes)
                    plan.runBackwardData(dy: dyBuf.pointer, packedWeight: wBuf.pointer, dx: dxBuf.pointer)
                }),
                ("backward_weights", {
                    let b = plan.backwardWeightsPlan
                    let xBuf = scratch(b.src.bytes), dyBuf = scratch(b.diffDst.bytes), dwBuf = scratch(b.diffWeights.bytes)
                    plan.runBackwardWeights(x: xBuf.pointer, dy: dyBuf.pointer, packedDiffWeight: dwBuf.pointer,
                                            dBias: bias?.pointer)
                }),
            ]
            for (pass, body) in passes {
                let seconds = median(repeats: repeats, body)
                let impl = pass == "forward" ? plan.implementation
                    : pass == "backward_data" ? implementationName(plan.backwardDataPlan.pd)
                    : implementationName(plan.backwardWeightsPlan.pd)
                report(OpsResult(op: "conv", pass: pass, shape: g.description, count: count, ms: seconds * 1e3,
                                 gflops: flops / seconds / 1e9, layout: format.rawValue, implementation: impl))
                totals[pass, default: (0, 0)].flops += flops * Double(count)
                totals[pass, default: (0, 0)].seconds += seconds * Double(count)
            }
            scratchBuffers.removeAll()
        }
        for pass in ["forward", "backward_data", "backward_weights"] {
            let t = totals[pass]!
            report(OpsResult(op: "conv", pass: pass, shape: "resnet50 total \(height)x\(width) batch \(batch)"
                             + (precision == .bf16 ? " bf16" : ""), count: 1,
                             ms: t.seconds * 1e3, gflops: t.flops / t.seconds / 1e9, layout: format.rawValue,
                             implementation: "-"))
        }
        let n = 1024
        let a = AlignedBuffer(byteCount: n * n * 4), b = AlignedBuffer(byteCount: n * n * 4)
        let c = AlignedBuffer(byteCount: n * n * 4)
        fillRandom(a); fillRandom(b)
        let pa = a.pointer.assumingMemoryBound(to: Float.self), pb = b.pointer.assumingMemoryBound(to: Float.self)
        let pc = c.pointer.assumingMemoryBound(to: Float.self)
        let seconds = median(repeats: repeats) {
            GEMM.sgemm(transA: false, transB: false, m: n, n: n, k: n, a: pa, lda: n, b: pb, ldb: n, c: pc, ldc: n)
        }
        report(OpsResult(op: "sgemm", pass: "forward", shape: "1024x1024x1024", count: 1, ms: seconds * 1e3,
                         gflops: 2 * Double(n * n * n) / seconds / 1e9, layout: "-", implementation: "dnnl_sgemm"))
    }

    nonisolated(unsafe) private static var scratchBuffers: [Int: AlignedBuffer] = [:]

    /// A reusable buffer of at least `bytes`, kept until the shape is done.
    private static func scratch(_ bytes: Int) -> AlignedBuffer {
        if let b = scratchBuffers[bytes] { return b }
        let b = AlignedBuffer(byteCount: bytes)
        fillRandom(b)
        scratchBuffers[bytes] = b
        return b
    }

    /// Values in [-0.5, 0.5] with their low 16 bits cleared, so that a buffer a bf16
    /// primitive reads directly (layout `.blocked`) holds proper numbers (and zeros)
    /// rather than arbitrary bit patterns; f32 kernels time the same either way.
    private static func fillRandom(_ b: AlignedBuffer) {
        let p = b.pointer.assumingMemoryBound(to: Float.self)
        var rng = SeededRandom(seed: 12345)
        for i in 0..<(b.byteCount / 4) {
            p[i] = Float(bitPattern: Float(rng.uniform(-0.5, 0.5)).bitPattern & 0xFFFF_0000)
        }
    }

    /// Median wall time of `repeats` runs after two warm-up runs.
    static func median(repeats: Int, _ body: () -> Void) -> Double {
        body(); body()
        var times: [Double] = []
        for _ in 0..<max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        return times[times.count / 2]
    }
}
