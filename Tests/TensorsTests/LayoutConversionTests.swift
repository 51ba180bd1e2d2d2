// NCHW <-> NHWC conversion: element positions and the round trip.
import Tensors
import TestSupport
import XCTest

final class LayoutConversionTests: XCTestCase {
    func testRoundTripAndPositions() {
        var rng = SeededRandom(seed: 51)
        let (n, c, h, w) = (2, 3, 4, 5)
        let x = rng.tensor([n, c, h, w], .nchw)
        let y = LayoutConversion.toNHWC(x)
        XCTAssertEqual(y.shape, [n, h, w, c])
        for b in 0..<n { for k in 0..<c { for i in 0..<h { for j in 0..<w {
            XCTAssertEqual(y[((b * h + i) * w + j) * c + k], x[((b * c + k) * h + i) * w + j])
        } } } }
        XCTAssertEqual(LayoutConversion.toNCHW(y).toArray(), x.toArray())
    }
}
