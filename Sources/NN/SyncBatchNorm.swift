// SyncBatchNorm: batch normalization whose batch statistics (and the sums its backward
// needs) are summed over every rank, so that N ranks compute what one rank computes on
// the whole batch. x: (M, C) rows of an (N, H, W, C) activation. The reducer is given by
// the trainer (it wraps the communicator); NN itself never talks to other ranks.
import Foundation
import Tensors

/// Sums Double buffers over all ranks, in place.
public protocol StatisticsReducer: AnyObject {
    /// - Important: Collective — every rank calls this, in the same order.
    func sum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws
}

enum SyncBatchNorm {
    /// Per-channel sums of x and x^2 over rows, in double.
    static func channelSums(_ x: UnsafePointer<Float>, rows: Int, channels c: Int,
                            _ f: (Int, Float) -> (Double, Double)) -> [Double] {
        let workers = max(1, min(DNNL.threads, rows / 64))
        var partial = [[Double]](repeating: [Double](repeating: 0, count: 2 * c), count: workers)
        partial.withUnsafeMutableBufferPointer { pb in
            nonisolated(unsafe) let parts = pb.baseAddress!
            parallelFor(workers) { w in
                var acc = [Double](repeating: 0, count: 2 * c)
                for r in (rows * w / workers)..<(rows * (w + 1) / workers) {
                    let row = r * c
                    for k in 0..<c {
                        let (a, b) = f(row + k, x[row + k])
                        acc[k] += a
                        acc[c + k] += b
                    }
                }
                parts[w] = acc
            }
        }
        var total = [Double](repeating: 0, count: 2 * c)
        for p in partial { for i in 0..<(2 * c) { total[i] += p[i] } }
        return total
    }

    /// Training forward with global statistics; returns (mean, inverse std, global rows).
    static func forward(x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, epsilon: Float, relu: Bool,
                        reducer: StatisticsReducer) throws -> (mean: [Double], invstd: [Double], rows: Int) {
        let c = x.shape[x.shape.count - 1], rows = x.count / c
        var sums = channelSums(x.data, rows: rows, channels: c) { _, v in (Double(v), Double(v) * Double(v)) }
        sums.append(Double(rows))
        try sums.withUnsafeMutableBufferPointer { try reducer.sum($0.baseAddress!, count: 2 * c + 1) }
        let m = sums[2 * c]
        let mean = (0..<c).map { sums[$0] / m }
        let invstd = (0..<c).map { 1 / (max(sums[c + $0] / m - mean[$0] * mean[$0], 0) + Double(epsilon)).squareRoot() }
        normalize(x: x, gamma: gamma, beta: beta, y: y, mean: mean, invstd: invstd, relu: relu)
        return (mean, invstd, Int(m))
    }

    /// y = gamma (x - mean) invstd + beta (then ReLU), per channel: what the forward
    /// writes, and what a backward that did not keep y recomputes, bit for bit.
    static func normalize(x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, mean: [Double], invstd: [Double],
                          relu: Bool) {
        let c = x.shape[x.shape.count - 1], rows = x.count / c
        let scale = (0..<c).map { Float(Double(gamma[$0]) * invstd[$0]) }
        let shift = (0..<c).map { beta[$0] - scale[$0] * Float(mean[$0]) }
        let (xd, yd) = (x.data, y.data)
        parallelFor(rows) { r in
            let row = r * c
            for k in 0..<c {
                let v = xd[row + k] * scale[k] + shift[k]
                yd[row + k] = relu ? max(v, 0) : v
            }
        }
    }

    /// Writes the batch mean and (biased) variance a synchronized forward used.
    static func store(_ s: (mean: [Double], invstd: [Double], rows: Int), epsilon: Float, mean: Tensor, variance: Tensor) {
        for k in 0..<s.mean.count {
            mean[k] = Float(s.mean[k])
            variance[k] = Float(1 / (s.invstd[k] * s.invstd[k]) - Double(epsilon))
        }
    }

    /// Backward with global sums: writes dx and the local parts of dgamma and dbeta (the
    /// trainer's gradient allreduce adds the other ranks' parts).
    /// y (the forward's output) is read only with ReLU, for its mask.
    static func backward(x: Tensor, y: Tensor?, dy: Tensor, gamma: Tensor, mean: [Double], invstd: [Double], rows m: Int,
                         relu: Bool, dx: Tensor, dGamma: Tensor, dBeta: Tensor, reducer: StatisticsReducer) throws {
        let c = x.shape[x.shape.count - 1], rows = x.count / c
        require(!relu || y != nil, "SyncBatchNorm.backward: with ReLU the forward's output is needed")
        let (xd, yd, gd) = (x.data, (y ?? x).data, dy.data)
        let local = channelSums(gd, rows: rows, channels: c) { i, g in
            let k = i % c
            let d = relu && yd[i] <= 0 ? 0 : Double(g)
            return (d, d * (Double(xd[i]) - mean[k]) * invstd[k])
        }
        for k in 0..<c {
            dBeta[k] = Float(local[k])
            dGamma[k] = Float(local[c + k])
        }
        var global = local
        try global.withUnsafeMutableBufferPointer { try reducer.sum($0.baseAddress!, count: 2 * c) }
        let a = (0..<c).map { Float(Double(gamma[$0]) * invstd[$0]) }
        let meanDy = (0..<c).map { Float(global[$0] / Double(m)) }
        let meanDyX = (0..<c).map { Float(global[c + $0] / Double(m)) }
        let mu = mean.map { Float($0) }, inv = invstd.map { Float($0) }
        let dxd = dx.data
        parallelFor(rows) { r in
            let row = r * c
            for k in 0..<c {
                let g: Float = relu && yd[row + k] <= 0 ? 0 : gd[row + k]
                let xhat = (xd[row + k] - mu[k]) * inv[k]
                dxd[row + k] = a[k] * (g - meanDy[k] - xhat * meanDyX[k])
            }
        }
    }
}
