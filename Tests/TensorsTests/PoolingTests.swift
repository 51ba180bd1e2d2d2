// Max pooling and global average pooling against the reference and finite differences.
import Tensors
import TestSupport
import XCTest

final class PoolingTests: XCTestCase {
    static let geometries: [PoolGeometry] = [
        PoolGeometry(batch: 2, height: 8, width: 6, channels: 5),
        PoolGeometry(batch: 1, height: 7, width: 9, channels: 16),
        PoolGeometry(batch: 3, height: 5, width: 5, channels: 3, kernel: 2, stride: 2, padding: 0),
        PoolGeometry(batch: 1, height: 4, width: 3, channels: 2, kernel: 3, stride: 1, padding: 1),
    ]

    func testMaxPoolForwardAndBackward() {
        var rng = SeededRandom(seed: 21)
        for g in Self.geometries {
            let x = rng.tensor(g.inputShape, .nhwc)
            let y = Tensor(shape: g.outputShape, layout: .nhwc)
            let ws = Pooling.makeWorkspace(g)
            Pooling.maxForward(g, x: x, y: y, workspace: ws)
            XCTAssertEqual(y.toArray(), ReferenceOps.maxPool(g, x: x.toArray()).y, "\(g)")
            let dy = rng.tensor(g.outputShape, .nhwc)
            let dx = Tensor(shape: g.inputShape, layout: .nhwc)
            Pooling.maxBackward(g, dy: dy, workspace: ws, dx: dx)
            assertClose(dx, ReferenceOps.maxPoolBackward(g, x: x.toArray(), dy: dy.toArray()), rtol: 1e-6, "\(g)")
            // Small steps keep the argmax in place (random inputs have no near-ties at 1e-4).
            checkGradient("maxpool dx \(g)", at: x.toArray(), analytic: dx.toArray(), step: 1e-4) { probe in
                let out = Tensor(shape: g.outputShape, layout: .nhwc)
                Pooling.maxForward(g, x: Tensor(shape: g.inputShape, layout: .nhwc, values: probe), y: out,
                                   workspace: Pooling.makeWorkspace(g))
                return dot(out.toArray(), dy.toArray())
            }
        }
    }

    func testGlobalAveragePooling() {
        var rng = SeededRandom(seed: 22)
        for (n, h, w, c) in [(2, 3, 5, 7), (1, 1, 1, 4), (5, 8, 4, 33)] {
            let x = rng.tensor([n, h, w, c], .nhwc)
            let y = Tensor(shape: [n, c], layout: .nc)
            Pooling.globalAverageForward(x: x, y: y)
            assertClose(y, ReferenceOps.globalAverage(x: x.toArray(), batch: n, spatial: h * w, channels: c), rtol: 1e-5)
            let dy = rng.tensor([n, c], .nc)
            let dx = Tensor(shape: [n, h, w, c], layout: .nhwc)
            Pooling.globalAverageBackward(dy: dy, dx: dx)
            assertClose(dx, ReferenceOps.globalAverageBackward(dy: dy.toArray(), batch: n, spatial: h * w, channels: c),
                        rtol: 1e-6)
            checkGradient("gap dx", at: x.toArray(), analytic: dx.toArray()) { probe in
                let out = Tensor(shape: [n, c], layout: .nc)
                Pooling.globalAverageForward(x: Tensor(shape: [n, h, w, c], layout: .nhwc, values: probe), y: out)
                return dot(out.toArray(), dy.toArray())
            }
        }
    }
}
