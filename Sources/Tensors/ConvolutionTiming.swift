// ConvolutionTiming: the wall time of one inference convolution (BN folded into a bias,
// ReLU or the residual addition fused) as ReIDNet's inference runs it, on random data:
// `x: (N, H, W, C) -> y: (N, H', W', K)`. Latency-targeted pruning fills its per-layer
// latency table with it.
//
// Each timed pass starts as it does inside a network whose weights outgrow the last-level
// cache (a ResNet-50's weights take 94 MB; server CPUs often have 32 MiB): the layer's
// packed weights come from memory, because every other layer's weights and activations
// went through the cache since its last pass, while its input, which the previous layer
// has just written, and its output buffer are in the cache. Timed in a loop with
// everything warm, the weight-heavy convolutions of layer3 and layer4 measured 22-56%
// faster than inside the network at batch 1, and the table favoured them.
import Foundation

public enum ConvolutionTiming {
    /// Median milliseconds of `repeats` forward passes of `g` (after two untimed passes,
    /// the first of which builds the primitive), with packed weights as inference uses them,
    /// each pass after the caches were emptied and the input and output read back in.
    /// A primitive built only for the timing is dropped afterwards: a latency table times
    /// hundreds of shapes the network never runs.
    public static func forwardMilliseconds(_ g: ConvGeometry, repeats: Int = 5) -> Double {
        let key = Convolution.inferencePlanKey(g), known = DNNL.current.isCached(key)
        defer { if !known { DNNL.current.forget(key) } }
        var rng = SeededRandom(seed: 99, keys: g.inChannels, g.outChannels)
        func random(_ shape: [Int], _ layout: Layout) -> Tensor {
            let t = Tensor(shape: shape, layout: layout)
            for i in 0..<t.count { t[i] = Float(rng.uniform(-0.5, 0.5)) }
            return t
        }
        let x = random(g.inputShape, .nhwc), y = random(g.outputShape, .nhwc)
        if g.bf16Activations {
            // x and y hold bfloat16 values, as in a bf16 inference chain.
            for t in [x, y] {
                let values = t.clone()
                BF16Pack.pack(values, into: t)
            }
        }
        let weight = random(g.weightShape, .oihw)
        let bias = g.hasBias ? random([g.outChannels], .x) : nil
        let packed = Convolution.pack(g, weight: weight)
        for _ in 0..<2 { Convolution.forward(g, x: x, packed: packed, bias: bias, y: y) }
        var times: [Double] = []
        for _ in 0..<max(1, repeats) {
            CacheEviction.evict()
            CacheEviction.touch(x)
            CacheEviction.touch(y)
            let start = DispatchTime.now().uptimeNanoseconds
            Convolution.forward(g, x: x, packed: packed, bias: bias, y: y)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        times.sort()
        return times[times.count / 2]
    }
}

/// Empties the caches of what they held, and brings chosen tensors back in.
public enum CacheEviction {
    /// Floats in twice the last-level cache (at most 512 MiB): reading one value per
    /// 64-byte line of them evicts whatever the caches held before. Reading, not writing:
    /// written lines would still be going back to memory while the next pass is timed.
    private static let count = min(2 * CPUCache.lastLevelBytes, 512 << 20) / MemoryLayout<Float>.size
    nonisolated(unsafe) private static let buffer: UnsafeMutablePointer<Float> = {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
        p.initialize(repeating: 0, count: count)
        return p
    }()
    private static let lock = NSLock()

    /// Reads one float in every cache line of a buffer twice the last-level cache's size.
    public static func evict() { readLines(buffer, count) }

    /// Reads one float in every cache line of `t`, so that it is in the cache.
    public static func touch(_ t: Tensor) { readLines(t.data, t.count) }

    /// Reads one float per 64-byte line of `count` floats at `p`; their sum goes to a
    /// static, so that the reads are not optimized away.
    private static func readLines(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        var sum: Float = 0, i = 0
        while i < count { sum += p[i]; i += 16 }
        lock.lock(); defer { lock.unlock() }
        sink = sum
    }
    nonisolated(unsafe) private static var sink: Float = 0
}
