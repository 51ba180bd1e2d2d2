// ContrastiveLoss: the pair loss of Siamese training (Hadsell et al. 2006) on Euclidean
// distances between features: same identity y = 1 pulls with d^2, different identity
// pushes with max(0, margin - d)^2, halved and averaged over the pairs.
// features: (N, D); pairs: index pairs into the batch (all pairs by default). A batch
// without pairs or with a non-finite distance is a thrown LossError.
import Foundation
import Tensors

public struct ContrastiveLoss: Sendable {
    public var margin: Float

    public init(margin: Float = 1.0) { self.margin = margin }

    /// Every unordered pair (i, j), i < j, of a batch of n.
    public static func allPairs(_ n: Int) -> [(Int, Int)] {
        var p: [(Int, Int)] = []
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { p.append((i, j)) } }
        return p
    }

    /// The loss, and its gradient with respect to the features written into `gradient`.
    /// - Throws: `LossError` when there is no pair or a distance is not finite.
    public func callAsFunction(features: Tensor, labels: [Int], pairs: [(Int, Int)]? = nil,
                               gradient: Tensor?) throws -> Double {
        require(features.shape.count == 2 && features.shape[0] == labels.count,
                     "ContrastiveLoss: features \(features.shape) for \(labels.count) labels")
        let (n, d) = (features.shape[0], features.shape[1])
        let pairs = pairs ?? ContrastiveLoss.allPairs(n)
        guard !pairs.isEmpty else {
            throw LossError(.invalidBatch, "ContrastiveLoss: a batch of \(n) sample(s) has no pair to compare")
        }
        gradient?.zero()
        var total = 0.0
        let scale = 1 / Double(pairs.count)
        for (i, j) in pairs {
            let xi = features.data + i * d, xj = features.data + j * d
            var sq = 0.0
            for k in 0..<d { let t = Double(xi[k] - xj[k]); sq += t * t }
            guard sq.isFinite else {
                throw LossError(.nonFinite, "ContrastiveLoss: the distance between samples \(i) and \(j) is not finite "
                                + "(the features hold NaN or infinite values)")
            }
            let dist = sq.squareRoot()
            // dL/d(xi) = c (xi - xj)
            let c: Double
            if labels[i] == labels[j] {
                total += 0.5 * sq
                c = scale
            } else {
                let gap = Double(margin) - dist
                if gap > 0 {
                    total += 0.5 * gap * gap
                    c = dist > 1e-12 ? -scale * gap / dist : 0
                } else {
                    c = 0
                }
            }
            if let gradient, c != 0 {
                let gi = gradient.data + i * d, gj = gradient.data + j * d
                for k in 0..<d {
                    let t = Float(c) * (xi[k] - xj[k])
                    gi[k] += t
                    gj[k] -= t
                }
            }
        }
        return total * scale
    }
}
