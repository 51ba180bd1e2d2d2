// Decoder edge cases: CMYK, YCCK, grayscale and progressive JPEGs decode to Pillow's
// RGB pixels.
import Foundation
import ReIDData
import Tensors
import XCTest

final class DecoderLimitsTests: XCTestCase {
    func fixture(_ name: String) -> String { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)").path }

    func pillow(_ key: String) throws -> RGBImage {
        let f = try SafetensorsFile(path: fixture("decoder_pixels.safetensors"))
        let e = f.entry(key)!
        return RGBImage(width: e.shape[1], height: e.shape[0], pixels: try f.int64s(key).map { UInt8($0) })
    }

    // MARK: - Colour spaces

    func testCMYKYCCKGrayAndProgressiveMatchPillow() throws {
        let codec = ImageCodec()
        for name in ["cmyk", "cmyk_noadobe", "ycck", "gray", "progressive"] {
            let ours = try codec.decode(path: fixture("\(name).jpg"))
            let theirs = try pillow(name)
            XCTAssertEqual(ours.width, theirs.width, name)
            XCTAssertEqual(ours.height, theirs.height, name)
            let diff = zip(ours.pixels, theirs.pixels).map { (a: UInt8, b: UInt8) -> Int in abs(Int(a) - Int(b)) }.max() ?? 255
            // Pillow's CMYK -> RGB is integer arithmetic on the same libjpeg output: equal, and
            // within one level at most should a libjpeg build round differently.
            XCTAssertLessThanOrEqual(diff, ["gray", "progressive"].contains(name) ? 0 : 1, "\(name): max difference \(diff)")
        }
        let gray = try codec.decode(path: fixture("gray.jpg"))
        let p = gray.pixels
        let unequal = stride(from: 0, to: p.count, by: 3).filter { (i: Int) -> Bool in p[i] != p[i + 1] || p[i] != p[i + 2] }
        XCTAssertEqual(unequal.count, 0, "a grayscale JPEG gives R = G = B")
    }
}
