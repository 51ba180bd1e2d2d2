// ReferenceOps: plain-loop batch normalization, pooling, ReLU, addition and matrix
// products in double precision, for tests only. Activations are (N, H, W, C) flattened,
// so a channel index is `i % C`.
import Tensors

public enum ReferenceOps {
    /// x: (M, C) rows (M = N H W) -> y, batch mean, biased batch variance
    public static func batchNormTraining(x: [Float], channels c: Int, gamma: [Float], beta: [Float], epsilon: Double,
                                         relu: Bool) -> (y: [Float], mean: [Float], variance: [Float]) {
        let m = x.count / c
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for i in 0..<x.count { mean[i % c] += Double(x[i]) }
        for k in 0..<c { mean[k] /= Double(m) }
        for i in 0..<x.count {
            let d = Double(x[i]) - mean[i % c]
            variance[i % c] += d * d
        }
        for k in 0..<c { variance[k] /= Double(m) }
        var y = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let k = i % c
            var v = Double(gamma[k]) * (Double(x[i]) - mean[k]) / (variance[k] + epsilon).squareRoot() + Double(beta[k])
            if relu { v = max(v, 0) }
            y[i] = Float(v)
        }
        return (y, mean.map { Float($0) }, variance.map { Float($0) })
    }

    /// Normalization with given statistics (inference).
    public static func batchNormInference(x: [Float], channels c: Int, gamma: [Float], beta: [Float], mean: [Float],
                                          variance: [Float], epsilon: Double, relu: Bool) -> [Float] {
        (0..<x.count).map { i in
            let k = i % c
            let v = Double(gamma[k]) * (Double(x[i]) - Double(mean[k])) / (Double(variance[k]) + epsilon).squareRoot()
                + Double(beta[k])
            return Float(relu ? max(v, 0) : v)
        }
    }

    /// Backward of training-mode batch normalization (with ReLU, dy is the gradient of
    /// the ReLU output) -> dx, dgamma, dbeta
    public static func batchNormBackward(x: [Float], dy: [Float], channels c: Int, gamma: [Float], beta: [Float],
                                         epsilon: Double, relu: Bool) -> (dx: [Float], dGamma: [Float], dBeta: [Float]) {
        let m = x.count / c
        let forward = batchNormTraining(x: x, channels: c, gamma: gamma, beta: beta, epsilon: epsilon, relu: false)
        var g = dy.map { Double($0) }
        if relu { for i in 0..<g.count where forward.y[i] <= 0 { g[i] = 0 } }
        var dGamma = [Double](repeating: 0, count: c), dBeta = [Double](repeating: 0, count: c)
        var xhat = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let k = i % c
            xhat[i] = (Double(x[i]) - Double(forward.mean[k])) / (Double(forward.variance[k]) + epsilon).squareRoot()
            dGamma[k] += g[i] * xhat[i]
            dBeta[k] += g[i]
        }
        let dx = (0..<x.count).map { i -> Float in
            let k = i % c
            let inv = 1 / (Double(forward.variance[k]) + epsilon).squareRoot()
            return Float(Double(gamma[k]) * inv * (g[i] - dBeta[k] / Double(m) - xhat[i] * dGamma[k] / Double(m)))
        }
        return (dx, dGamma.map { Float($0) }, dBeta.map { Float($0) })
    }

    /// Max pooling forward (padding never wins) and the argmax of each output.
    public static func maxPool(_ g: PoolGeometry, x: [Float]) -> (y: [Float], argmax: [Int]) {
        var y = [Float](), arg = [Int]()
        for n in 0..<g.batch {
            for oh in 0..<g.outHeight {
                for ow in 0..<g.outWidth {
                    for c in 0..<g.channels {
                        var best = -Float.infinity, at = -1
                        for r in 0..<g.kernel {
                            let ih = oh * g.stride - g.padding + r
                            if ih < 0 || ih >= g.height { continue }
                            for q in 0..<g.kernel {
                                let iw = ow * g.stride - g.padding + q
                                if iw < 0 || iw >= g.width { continue }
                                let i = ((n * g.height + ih) * g.width + iw) * g.channels + c
                                if x[i] > best { best = x[i]; at = i }
                            }
                        }
                        y.append(best)
                        arg.append(at)
                    }
                }
            }
        }
        return (y, arg)
    }

    /// Max pooling backward: each output gradient goes to its argmax.
    public static func maxPoolBackward(_ g: PoolGeometry, x: [Float], dy: [Float]) -> [Float] {
        let arg = maxPool(g, x: x).argmax
        var dx = [Float](repeating: 0, count: x.count)
        for (o, i) in arg.enumerated() { dx[i] += dy[o] }
        return dx
    }

    /// (N, H, W, C) -> (N, C)
    public static func globalAverage(x: [Float], batch n: Int, spatial hw: Int, channels c: Int) -> [Float] {
        var y = [Double](repeating: 0, count: n * c)
        for b in 0..<n { for p in 0..<hw { for k in 0..<c { y[b * c + k] += Double(x[(b * hw + p) * c + k]) } } }
        return y.map { Float($0 / Double(hw)) }
    }

    public static func globalAverageBackward(dy: [Float], batch n: Int, spatial hw: Int, channels c: Int) -> [Float] {
        var dx = [Float](repeating: 0, count: n * hw * c)
        for b in 0..<n { for p in 0..<hw { for k in 0..<c { dx[(b * hw + p) * c + k] = dy[b * c + k] / Float(hw) } } }
        return dx
    }

    public static func relu(_ x: [Float]) -> [Float] { x.map { max($0, 0) } }

    public static func reluBackward(y: [Float], dy: [Float]) -> [Float] { zip(y, dy).map { $0 > 0 ? $1 : 0 } }

    public static func add(_ a: [Float], _ b: [Float]) -> [Float] { zip(a, b).map { $0 + $1 } }

    /// C (m, n) = op(A) op(B), row-major, double accumulation.
    public static func matmul(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transA: Bool, transB: Bool) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * m + i] : a[i * k + p]
                    let bv = transB ? b[j * k + p] : b[p * n + j]
                    s += Double(av) * Double(bv)
                }
                c[i * n + j] = Float(s)
            }
        }
        return c
    }

    /// x: (N, D_in), w: (D_out, D_in), b -> (N, D_out)
    public static func linear(x: [Float], w: [Float], b: [Float]?, n: Int, dIn: Int, dOut: Int) -> [Float] {
        var y = matmul(x, w, m: n, n: dOut, k: dIn, transA: false, transB: true)
        if let b { for i in 0..<y.count { y[i] += b[i % dOut] } }
        return y
    }
}
