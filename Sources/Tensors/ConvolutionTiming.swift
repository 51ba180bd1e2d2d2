// ConvolutionTiming: the wall time of one inference convolution (BN folded into a bias,
// ReLU or the residual addition fused) as ReIDNet's inference runs it, on random data:
// `x: (N, H, W, C) -> y: (N, H', W', K)`. Latency-targeted pruning fills its per-layer
// latency table with it.
import Foundation

public enum ConvolutionTiming {
    /// Median milliseconds of `repeats` forward passes of `g` (after two untimed passes,
    /// the first of which builds the primitive), with packed weights as inference uses them.
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
            let start = DispatchTime.now().uptimeNanoseconds
            Convolution.forward(g, x: x, packed: packed, bias: bias, y: y)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        times.sort()
        return times[times.count / 2]
    }
}
