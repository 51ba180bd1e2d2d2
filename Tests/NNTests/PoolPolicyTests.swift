// The tensor pool's two policies: a network that has only inferred keeps whole buffers,
// so repeated inference passes after the first map no new memory and move no pages, and
// give the same features; the first training pass switches the pool to splitting and
// joining for good (its evaluations then reuse training's memory).
@testable import NN
import Tensors
import TestSupport
import XCTest

final class PoolPolicyTests: XCTestCase {
    func testInferencePassesReuseWholeBuffersAndTrainingSwitchesForGood() throws {
        let arch = ResNetArchitecture.resnet(block: .bottleneck, blocks: [2, 1, 1, 1], baseWidth: 8)
        let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 4), seed: 5)
        var rng = SeededRandom(seed: 3)
        let x = rng.tensor([2, 64, 32, 3], .nhwc, -2, 2)
        let first = try net.forward(x, mode: .inference).features.toArray()
        XCTAssertTrue(net.pool.wholeBuffers)
        let (allocated, merges, bytes) = (net.pool.allocated, net.pool.merges, net.pool.bytes)
        XCTAssertGreaterThan(allocated, 0)
        XCTAssertEqual(merges, 0)
        for pass in 0..<3 {
            let again = try net.forward(x, mode: .inference).features.toArray()
            XCTAssertEqual(again.map(\.bitPattern), first.map(\.bitPattern), "pass \(pass)")
        }
        XCTAssertEqual(net.pool.allocated, allocated, "inference passes after the first mapped new memory")
        XCTAssertEqual(net.pool.merges, 0, "inference passes moved pages")
        XCTAssertEqual(net.pool.bytes, bytes)
        XCTAssertEqual(net.pool.lentBytes, 0)

        // A training pass switches to splitting and joining, and inference stays there.
        let y = rng.tensor([4, 64, 32, 3], .nhwc, -2, 2)
        let out = try net.forward(y, mode: .training)
        XCTAssertFalse(net.pool.wholeBuffers)
        try net.backward(dFeatures: Tensor(shape: out.features.shape, layout: .nc, values: rng.array(out.features.count)),
                         dLogits: nil)
        _ = try net.forward(x, mode: .inference)
        XCTAssertFalse(net.pool.wholeBuffers)
    }
}
