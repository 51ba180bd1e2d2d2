// TripletLoss: batch-hard triplet loss (Hermans et al. 2017) on Euclidean distances
// between features: for each anchor the farthest positive and the nearest negative of
// the batch; hinge max(0, d_ap - d_an + margin) or soft margin log(1 + exp(d_ap - d_an)),
// averaged over anchors. Distances as torchreid computes them: sqrt(clamp(|a|^2 + |b|^2
// - 2 a.b, 1e-12)). features: (N, D), labels: N ints. A batch of one identity, or
// features whose distances are not finite (NaN compares false, so mining would find no
// negative), is a thrown LossError.
import Foundation
import Tensors

public struct TripletLoss: Sendable {
    public var margin: Float
    public var softMargin: Bool

    public init(margin: Float = 0.3, softMargin: Bool = false) {
        self.margin = margin
        self.softMargin = softMargin
    }

    /// Pairwise distances (N, N) with torchreid's clamping.
    public static func distances(_ f: Tensor) -> [Double] {
        let n = f.shape[0]
        let gram = Tensor(shape: [n, n], layout: .nc)
        GEMM.matmul(f, f, transB: true, into: gram)
        var sq = [Double](repeating: 0, count: n)
        for i in 0..<n { sq[i] = Double(gram[i * n + i]) }
        var dist = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                let v = sq[i] + sq[j] - 2 * Double(gram[i * n + j])
                dist[i * n + j] = max(v, 1e-12).squareRoot()
            }
        }
        return dist
    }

    /// The loss, and its gradient with respect to the features written into `gradient`;
    /// `accuracy` is the share of anchors whose hardest negative lies farther than their
    /// hardest positive.
    /// - Throws: `LossError` for a batch of fewer than two identities or non-finite distances.
    public func callAsFunction(features: Tensor, labels: [Int], gradient: Tensor?) throws -> (loss: Double, accuracy: Double) {
        require(features.shape.count == 2 && features.shape[0] == labels.count,
                     "TripletLoss: features \(features.shape) for \(labels.count) labels")
        let (n, d) = (features.shape[0], features.shape[1])
        if Set(labels).count < 2 {
            throw LossError(.invalidBatch, "TripletLoss: the batch of \(n) sample(s) holds "
                            + (labels.first.map { "identity \($0) only" } ?? "no identity") + "; a triplet needs two identities")
        }
        let dist = TripletLoss.distances(features)
        if let bad = dist.firstIndex(where: { !$0.isFinite }) {
            throw LossError(.nonFinite, "TripletLoss: the distance between samples \(bad / n) and \(bad % n) is not "
                            + "finite (features NaN, infinite or too large for float)")
        }
        // Clamped distances (below 1e-6) pass no gradient, as in PyTorch.
        var coefficient = [Double](repeating: 0, count: n * n)
        var total = 0.0, correct = 0
        for i in 0..<n {
            var ap = -Double.infinity, an = Double.infinity, p = -1, q = -1
            for j in 0..<n {
                let v = dist[i * n + j]
                if labels[j] == labels[i] {
                    if v > ap { ap = v; p = j }
                } else if v < an {
                    an = v; q = j
                }
            }
            require(p >= 0 && q >= 0, "TripletLoss: anchor \(i) has no positive or negative")  // checked above
            if an > ap { correct += 1 }
            let z = ap - an
            let slope: Double
            if softMargin {
                total += z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))
                slope = 1 / (1 + exp(-z))
            } else {
                let h = z + Double(margin)
                total += max(h, 0)
                slope = h > 0 ? 1 : 0
            }
            coefficient[i * n + p] += slope / Double(n)
            coefficient[i * n + q] -= slope / Double(n)
        }
        if let gradient {
            require(gradient.shape == features.shape, "TripletLoss: gradient \(gradient.shape)")
            gradient.zero()
            for i in 0..<n {
                for j in 0..<n where coefficient[i * n + j] != 0 && i != j {
                    let dij = dist[i * n + j]
                    let sq = dij * dij
                    if sq <= 1e-12 { continue }
                    let c = Float(coefficient[i * n + j] / dij)
                    let xi = features.data + i * d, xj = features.data + j * d
                    let gi = gradient.data + i * d, gj = gradient.data + j * d
                    for k in 0..<d {
                        let diff = xi[k] - xj[k]
                        gi[k] += c * diff
                        gj[k] -= c * diff
                    }
                }
            }
        }
        return (total / Double(n), Double(correct) / Double(n))
    }
}
