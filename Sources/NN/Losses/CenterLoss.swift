// CenterLoss: pulls each feature towards a learned center of its identity (Wen et al.
// 2016), as torchreid computes it: Σ_i clamp(|f_i - c_{y_i}|^2, 1e-12, 1e12) / N. The
// centers are trained by their own SGD step. features: (N, D), centers: (K, D).
// Non-finite features or centers are a thrown LossError.
import Foundation
import Tensors

public final class CenterLoss {
    public let centers: Tensor
    public let centerGradient: Tensor

    public init(numClasses: Int, dim: Int, seed: UInt64 = 0) {
        centers = Tensor(shape: [numClasses, dim], layout: .nc)
        centerGradient = Tensor(shape: [numClasses, dim], layout: .nc)
        var rng = SeededRandom(seed: seed)
        for i in 0..<centers.count { centers[i] = Float(rng.normal()) }
    }

    /// The loss; writes its gradient with respect to the features into `gradient` and
    /// with respect to the centers into `centerGradient`.
    /// - Throws: `LossError` when a feature's distance to its center is not finite.
    public func callAsFunction(features: Tensor, labels: [Int], gradient: Tensor?) throws -> Double {
        let (n, d) = (features.shape[0], features.shape[1])
        require(d == centers.shape[1] && labels.count == n,
                     "CenterLoss: features \(features.shape), centers \(centers.shape), \(labels.count) labels")
        gradient?.zero()
        centerGradient.zero()
        var total = 0.0
        for i in 0..<n {
            let y = labels[i]
            require(y >= 0 && y < centers.shape[0], "CenterLoss: label \(y) outside 0..<\(centers.shape[0])")
            let f = features.data + i * d, c = centers.data + y * d
            var sq = 0.0
            for k in 0..<d { let t = Double(f[k] - c[k]); sq += t * t }
            guard sq.isFinite else {
                throw LossError(.nonFinite, "CenterLoss: sample \(i)'s distance to the center of identity \(y) is not "
                                + "finite (the features or centers hold NaN or infinite values)")
            }
            total += min(max(sq, 1e-12), 1e12)
            if sq > 1e-12 && sq < 1e12 {
                let s = Float(2 / Double(n))
                for k in 0..<d {
                    let t = s * (f[k] - c[k])
                    gradient?[i * d + k] += t
                    centerGradient[y * d + k] -= t
                }
            }
        }
        return total / Double(n)
    }

    /// centers -= lr * gradient
    public func step(learningRate: Float) {
        for i in 0..<centers.count { centers[i] -= learningRate * centerGradient[i] }
    }
}
