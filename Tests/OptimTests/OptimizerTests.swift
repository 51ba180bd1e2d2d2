// SGD (momentum, Nesterov, decay exemptions) and Adam/AdamW on a one-parameter store,
// against values computed by hand from PyTorch's update rules.
import NN
import Optim
import Tensors
import XCTest

final class OptimizerTests: XCTestCase {
    /// A store with a conv weight [2.0] and a BN scale [1.0].
    func store() -> ParameterStore {
        let s = ParameterStore()
        s.register("w", shape: [1, 1, 1, 1], layout: .oihw, role: .convWeight)
        s.register("bn.weight", shape: [1], layout: .x, role: .normWeight)
        s.register("bn.bias", shape: [1], layout: .x, role: .normBias, trainable: false)
        s.allocate()
        s.parameter(0)[0] = 2
        s.parameter(1)[0] = 1
        s.parameter(2)[0] = 5
        return s
    }

    func testSGDMomentumNesterovAndDecayExemption() {
        let s = store()
        let sgd = SGD(store: s, learningRate: 0.1, momentum: 0.9, nesterov: true,
                      policy: DecayPolicy(weightDecay: 0.01, decayNormAndBias: false))
        s.gradient(0)[0] = 0.5; s.gradient(1)[0] = 0.5; s.gradient(2)[0] = 100
        sgd.step()
        // w: d = 0.5 + 0.01*2 = 0.52; buf = 0.52; nesterov d = 0.52 + 0.9*0.52 = 0.988; w = 2 - 0.0988
        XCTAssertEqual(s.parameter(0)[0], 2 - 0.0988, accuracy: 1e-6)
        // bn.weight: no decay: d = 0.5; nesterov 0.95; 1 - 0.095
        XCTAssertEqual(s.parameter(1)[0], 0.905, accuracy: 1e-6)
        XCTAssertEqual(s.parameter(2)[0], 5, "frozen parameters never move")
        s.gradient(0)[0] = 0.5
        sgd.step()
        // d = 0.5 + 0.01*1.9012 = 0.519012; buf = 0.9*0.52 + 0.519012 = 0.987012; d = 0.519012 + 0.9*0.987012
        let w1: Float = 2 - 0.0988
        let d: Float = 0.5 + 0.01 * w1
        let buf: Float = 0.9 * 0.52 + d
        XCTAssertEqual(s.parameter(0)[0], w1 - 0.1 * (d + 0.9 * buf), accuracy: 1e-6)
    }

    func testAdamAndAdamW() {
        for decoupled in [false, true] {
            let s = store()
            let adam = Adam(store: s, learningRate: 0.01, decoupled: decoupled, policy: DecayPolicy(weightDecay: 0.1))
            s.gradient(0)[0] = 0.3
            adam.step()
            // First step: m = (1-b1) g', v = (1-b2) g'^2, update = lr * g'/|g'| (eps negligible).
            // Adam: g' = 0.3 + 0.1*2 = 0.5, w = 2 - 0.01. AdamW: w = 2*(1 - 0.001) - 0.01.
            let expected: Float = decoupled ? 2 * (1 - 0.001) - 0.01 : 2 - 0.01
            XCTAssertEqual(s.parameter(0)[0], expected, accuracy: 1e-6, "decoupled \(decoupled)")
            XCTAssertEqual(s.moment("exp_avg", 0)[0], decoupled ? 0.03 : 0.05, accuracy: 1e-7)
        }
    }
}
