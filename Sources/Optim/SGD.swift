// SGD: stochastic gradient descent with momentum, Nesterov and weight decay, exactly as
// torch.optim.SGD: g = grad + wd p; buf = m buf + (1 - dampening) g (buf = g at the
// first step); g = g + m buf (Nesterov) or buf; p -= lr g.
import NN
import Tensors

public final class SGD: Optimizer {
    public let store: ParameterStore
    public var learningRate: Float
    public var momentum: Float
    public var dampening: Float
    public var nesterov: Bool
    public var policy: DecayPolicy
    public var stepCount = 0
    public var momentNames: [String] { momentum != 0 ? ["momentum_buffer"] : [] }
    private let ranges: [(offset: Int, count: Int, decay: Float)]

    public init(store: ParameterStore, learningRate: Float, momentum: Float = 0.9, dampening: Float = 0,
                nesterov: Bool = false, policy: DecayPolicy = DecayPolicy()) {
        require(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov needs momentum and no dampening")
        self.store = store
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.policy = policy
        ranges = policy.ranges(store)
    }

    public func step() {
        let p = store.parameters!, g = store.gradients!
        let buf = momentum != 0 ? store.moment("momentum_buffer") : nil
        let first = stepCount == 0
        let (lr, m, damp) = (learningRate, momentum, 1 - dampening)
        let nesterov = self.nesterov
        for r in ranges {
            let wd = r.decay
            parallelRanges(r.count) { range in
                for i in (r.offset + range.lowerBound)..<(r.offset + range.upperBound) {
                    var d = g[i] + wd * p[i]
                    if let buf {
                        buf[i] = first ? d : m * buf[i] + damp * d
                        d = nesterov ? d + m * buf[i] : buf[i]
                    }
                    p[i] -= lr * d
                }
            }
        }
        stepCount += 1
        store.parametersChanged()
    }
}
