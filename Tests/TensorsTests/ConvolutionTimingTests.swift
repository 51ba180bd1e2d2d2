// ConvolutionTiming: a primitive built only to time a shape is dropped afterwards, also
// for the Winograd plans only inference runs; one the caller already had stays.
@testable import Tensors
import XCTest

final class ConvolutionTimingTests: XCTestCase {
    func testPrimitivesBuiltOnlyForTimingAreDropped() {
        var winograd = ConvGeometry(batch: 1, inChannels: 64, height: 8, width: 8, outChannels: 64, kernel: 3,
                                    padding: 1, bias: true)
        winograd.postOps = .relu
        let direct = ConvGeometry(batch: 1, inChannels: 24, height: 8, width: 8, outChannels: 40, kernel: 1, bias: true)
        // The first is a plan of its own for packed weights; the second shares training's.
        XCTAssertNotEqual(Convolution.inferencePlanKey(winograd), Convolution.planKey(winograd))
        XCTAssertEqual(Convolution.inferencePlanKey(direct), Convolution.planKey(direct))
        for g in [winograd, direct] {
            let key = Convolution.inferencePlanKey(g)
            XCTAssertFalse(DNNL.current.isCached(key), "\(g)")
            XCTAssertGreaterThan(ConvolutionTiming.forwardMilliseconds(g, repeats: 1), 0)
            XCTAssertFalse(DNNL.current.isCached(key), "timing \(g) left its primitive cached")
            // A plan the network already runs is kept.
            _ = Convolution.packedImplementation(g)
            XCTAssertTrue(DNNL.current.isCached(key))
            _ = ConvolutionTiming.forwardMilliseconds(g, repeats: 1)
            XCTAssertTrue(DNNL.current.isCached(key), "timing \(g) dropped a plan in use")
        }
    }
}
