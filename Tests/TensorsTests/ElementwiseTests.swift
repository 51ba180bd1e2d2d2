// ReLU and residual addition against the reference and finite differences.
import Tensors
import TestSupport
import XCTest

final class ElementwiseTests: XCTestCase {
    func testReLUForwardAndBackward() {
        var rng = SeededRandom(seed: 31)
        for count in [1, 7, 1000, 4099] {
            let x = rng.tensor([count], .x)
            let y = Tensor(shape: [count], layout: .x)
            Elementwise.reluForward(x: x, y: y)
            XCTAssertEqual(y.toArray(), ReferenceOps.relu(x.toArray()))
            let dy = rng.tensor([count], .x)
            let dx = Tensor(shape: [count], layout: .x)
            Elementwise.reluBackward(y: y, dy: dy, dx: dx)
            XCTAssertEqual(dx.toArray(), ReferenceOps.reluBackward(y: y.toArray(), dy: dy.toArray()))
            checkGradient("relu", at: x.toArray(), analytic: dx.toArray(), step: 1e-4) { probe in
                let out = Tensor(shape: [count], layout: .x)
                Elementwise.reluForward(x: Tensor(shape: [count], layout: .x, values: probe), y: out)
                return dot(out.toArray(), dy.toArray())
            }
        }
    }

    func testReLUInPlace() {
        let x = Tensor(shape: [4], layout: .x, values: [-1, 2, -3, 4])
        Elementwise.reluForward(x: x, y: x)
        XCTAssertEqual(x.toArray(), [0, 2, 0, 4])
    }

    func testAddAndAddReLU() {
        var rng = SeededRandom(seed: 32)
        let shape = [2, 3, 5, 7]
        let a = rng.tensor(shape, .nhwc), b = rng.tensor(shape, .nhwc)
        let y = Tensor(shape: shape, layout: .nhwc)
        Elementwise.add(a, b, into: y)
        XCTAssertEqual(y.toArray(), ReferenceOps.add(a.toArray(), b.toArray()))
        Elementwise.add(a, b, into: y, relu: true)
        XCTAssertEqual(y.toArray(), ReferenceOps.relu(ReferenceOps.add(a.toArray(), b.toArray())))
        // The gradient of relu(a + b) with respect to a and to b is reluBackward(y, dy).
        let dy = rng.tensor(shape, .nhwc)
        let da = Tensor(shape: shape, layout: .nhwc)
        Elementwise.reluBackward(y: y, dy: dy, dx: da)
        for (name, base, other) in [("a", a, b), ("b", b, a)] {
            checkGradient("add-relu d\(name)", at: base.toArray(), analytic: da.toArray(), step: 1e-4) { probe in
                let out = Tensor(shape: shape, layout: .nhwc)
                Elementwise.add(Tensor(shape: shape, layout: .nhwc, values: probe), other, into: out, relu: true)
                return dot(out.toArray(), dy.toArray())
            }
        }
    }
}
