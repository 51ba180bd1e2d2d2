// Adam and AdamW exactly as torch.optim.Adam / AdamW: moments m and v with bias
// correction; Adam adds wd p to the gradient (L2), AdamW decays the weights directly
// (p *= 1 - lr wd).
import Foundation
import NN
import Tensors

public final class Adam: Optimizer {
    public let store: ParameterStore
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// true: AdamW's decoupled weight decay; false: Adam's L2 penalty.
    public var decoupled: Bool
    public var policy: DecayPolicy
    public var stepCount = 0
    public let momentNames = ["exp_avg", "exp_avg_sq"]
    private let ranges: [(offset: Int, count: Int, decay: Float)]

    public init(store: ParameterStore, learningRate: Float = 3.5e-4, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, decoupled: Bool = false, policy: DecayPolicy = DecayPolicy()) {
        self.store = store
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.decoupled = decoupled
        self.policy = policy
        ranges = policy.ranges(store)
    }

    public func step() {
        stepCount += 1
        let p = store.parameters!, g = store.gradients!
        let m = store.moment("exp_avg"), v = store.moment("exp_avg_sq")
        let t = Double(stepCount)
        let c1 = 1 - pow(Double(beta1), t), c2 = 1 - pow(Double(beta2), t)
        let stepSize = Float(Double(learningRate) / c1)
        let root2 = Float(c2.squareRoot())
        let (b1, b2, eps, lr) = (beta1, beta2, epsilon, learningRate)
        let decoupled = self.decoupled
        for r in ranges {
            let wd = r.decay
            let (l2, keep) = decoupled ? (Float(0), 1 - lr * wd) : (wd, Float(1))
            parallelRanges(r.count) { range in
                for i in (r.offset + range.lowerBound)..<(r.offset + range.upperBound) {
                    let d = g[i] + l2 * p[i]
                    let pi = p[i] * keep
                    let mi = b1 * m[i] + (1 - b1) * d
                    let vi = b2 * v[i] + (1 - b2) * d * d
                    m[i] = mi
                    v[i] = vi
                    p[i] = pi - stepSize * mi / (vi.squareRoot() / root2 + eps)
                }
            }
        }
        store.parametersChanged()
    }
}
