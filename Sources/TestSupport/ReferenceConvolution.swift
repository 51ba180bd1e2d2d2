// ReferenceConvolution: plain-loop 2-D convolution forward and backward in double
// precision, for tests only. Activations (N, H, W, C), weights (K, C, KH, KW).
import Tensors

public enum ReferenceConvolution {
    /// x: (N, H, W, C), w: (K, C, KH, KW), bias: (K) -> y: (N, H', W', K)
    public static func forward(_ g: ConvGeometry, x: [Float], w: [Float], bias: [Float]?) -> [Float] {
        var y = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
        for n in 0..<g.batch {
            for oh in 0..<g.outHeight {
                for ow in 0..<g.outWidth {
                    for k in 0..<g.outChannels {
                        var s = Double(bias?[k] ?? 0)
                        for r in 0..<g.kernelH {
                            let ih = oh * g.strideH - g.padH + r
                            if ih < 0 || ih >= g.height { continue }
                            for q in 0..<g.kernelW {
                                let iw = ow * g.strideW - g.padW + q
                                if iw < 0 || iw >= g.width { continue }
                                for c in 0..<g.inChannels {
                                    s += Double(x[xIndex(g, n, ih, iw, c)]) * Double(w[wIndex(g, k, c, r, q)])
                                }
                            }
                        }
                        y[yIndex(g, n, oh, ow, k)] = Float(s)
                    }
                }
            }
        }
        return y
    }

    /// dy: (N, H', W', K), w -> dx: (N, H, W, C)
    public static func backwardData(_ g: ConvGeometry, dy: [Float], w: [Float]) -> [Float] {
        var dx = [Double](repeating: 0, count: g.inputShape.reduce(1, *))
        visit(g) { n, oh, ow, k, ih, iw, c, r, q in
            dx[xIndex(g, n, ih, iw, c)] += Double(dy[yIndex(g, n, oh, ow, k)]) * Double(w[wIndex(g, k, c, r, q)])
        }
        return dx.map { Float($0) }
    }

    /// x, dy -> dw: (K, C, KH, KW), db: (K)
    public static func backwardWeights(_ g: ConvGeometry, x: [Float], dy: [Float]) -> (dw: [Float], db: [Float]) {
        var dw = [Double](repeating: 0, count: g.weightShape.reduce(1, *))
        visit(g) { n, oh, ow, k, ih, iw, c, r, q in
            dw[wIndex(g, k, c, r, q)] += Double(dy[yIndex(g, n, oh, ow, k)]) * Double(x[xIndex(g, n, ih, iw, c)])
        }
        var db = [Double](repeating: 0, count: g.outChannels)
        for i in 0..<dy.count { db[i % g.outChannels] += Double(dy[i]) }
        return (dw.map { Float($0) }, db.map { Float($0) })
    }

    /// Calls `body` for every (output position, input position, weight tap) that contributes.
    private static func visit(_ g: ConvGeometry, _ body: (Int, Int, Int, Int, Int, Int, Int, Int, Int) -> Void) {
        for n in 0..<g.batch {
            for oh in 0..<g.outHeight {
                for ow in 0..<g.outWidth {
                    for r in 0..<g.kernelH {
                        let ih = oh * g.strideH - g.padH + r
                        if ih < 0 || ih >= g.height { continue }
                        for q in 0..<g.kernelW {
                            let iw = ow * g.strideW - g.padW + q
                            if iw < 0 || iw >= g.width { continue }
                            for k in 0..<g.outChannels {
                                for c in 0..<g.inChannels { body(n, oh, ow, k, ih, iw, c, r, q) }
                            }
                        }
                    }
                }
            }
        }
    }

    static func xIndex(_ g: ConvGeometry, _ n: Int, _ h: Int, _ w: Int, _ c: Int) -> Int {
        ((n * g.height + h) * g.width + w) * g.inChannels + c
    }

    static func yIndex(_ g: ConvGeometry, _ n: Int, _ h: Int, _ w: Int, _ k: Int) -> Int {
        ((n * g.outHeight + h) * g.outWidth + w) * g.outChannels + k
    }

    static func wIndex(_ g: ConvGeometry, _ k: Int, _ c: Int, _ r: Int, _ q: Int) -> Int {
        ((k * g.inChannels + c) * g.kernelH + r) * g.kernelW + q
    }
}
