// Decoded JPEG and PNG pixels equal Pillow's exactly; the bilinear resize equals
// Pillow's; augmentation is deterministic, flips and erases as configured, and
// normalizes with ImageNet statistics.
import Foundation
import Tensors
import NN
import ReIDData
import Tensors
import XCTest

final class ImagePipelineTests: XCTestCase {
    func fixture(_ name: String) -> String { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)").path }

    func pillow(_ key: String) throws -> RGBImage {
        let f = try SafetensorsFile(path: fixture("pillow_pixels.safetensors"))
        let e = f.entry(key)!
        return RGBImage(width: e.shape[1], height: e.shape[0], pixels: try f.int64s(key).map { UInt8($0) })
    }

    func testJPEGAndPNGPixelsEqualPillow() throws {
        let codec = ImageCodec()
        for name in ["a420", "b444", "c420"] {
            let ours = try codec.decode(path: fixture("\(name).jpg"))
            XCTAssertEqual(ours, try pillow(name), "\(name).jpg differs from Pillow's decode")
        }
        XCTAssertEqual(try codec.decode(path: fixture("d.png")), try pillow("d"))
    }

    func testBilinearResizeEqualsPillow() throws {
        let src = try ImageCodec().decode(path: fixture("b444.jpg"))
        for (key, h, w) in [("b444_resized_64x32", 64, 32), ("b444_resized_200x96", 200, 96)] {
            let ours = Resize.bilinear(src, height: h, width: w)
            let theirs = try pillow(key)
            let diff = zip(ours.pixels, theirs.pixels).map { abs(Int($0) - Int($1)) }
            XCTAssertEqual(diff.max(), 0, "\(key): max difference \(diff.max()!), \(diff.filter { $0 > 0 }.count) pixels differ")
        }
    }

    func testBadBytesNameTheirPath() {
        XCTAssertThrowsError(try ImageCodec().decode(Data("GIF89a".utf8), path: "x/y.gif")) { e in
            XCTAssertTrue("\(e)".contains("x/y.gif: not a JPEG or PNG"), "\(e)")
        }
        XCTAssertThrowsError(try ImageCodec().decode(path: "/nonexistent/file.jpg")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/file.jpg: cannot read"), "\(e)")
        }
    }

    func testAugmentationDeterministicAndNormalized() throws {
        var img = RGBImage(width: 16, height: 32, fill: (0, 0, 0))
        for x in 0..<8 { for y in 0..<32 { img.pixels[(y * 16 + x) * 3] = 255 } }  // left half red
        var c = AugmentConfig()
        c.height = 32
        c.width = 16
        c.padding = 0
        c.erasingProbability = 0
        c.flipProbability = 1
        var out = [Float](repeating: 0, count: 32 * 16 * 3)
        var rng = SeededRandom(seed: 1, keys: 0, 0)
        out.withUnsafeMutableBufferPointer { Augmentation.apply(img, config: c, rng: &rng, into: $0.baseAddress!) }
        // Flipped: the right half is red now; red normalized = (1 - 0.485) / 0.229.
        XCTAssertEqual(out[(0 * 16 + 15) * 3], (1 - 0.485) / 0.229, accuracy: 1e-5)
        XCTAssertEqual(out[(0 * 16 + 0) * 3], -0.485 / 0.229, accuracy: 1e-5)
        XCTAssertEqual(out[(0 * 16 + 0) * 3 + 2], -0.406 / 0.225, accuracy: 1e-5)

        c.flipProbability = 0.5
        c.padding = 4
        c.erasingProbability = 1
        var a = [Float](repeating: 0, count: out.count), b = a
        var r1 = SeededRandom(seed: 3, keys: 2, 5), r2 = SeededRandom(seed: 3, keys: 2, 5)
        a.withUnsafeMutableBufferPointer { Augmentation.apply(img, config: c, rng: &r1, into: $0.baseAddress!) }
        b.withUnsafeMutableBufferPointer { Augmentation.apply(img, config: c, rng: &r2, into: $0.baseAddress!) }
        XCTAssertEqual(a, b, "the same (seed, epoch, index) gives the same augmentation")
        let zeros = stride(from: 0, to: a.count, by: 3).filter { a[$0] == 0 && a[$0 + 1] == 0 && a[$0 + 2] == 0 }.count
        XCTAssertGreaterThanOrEqual(Double(zeros), 0.02 * 512, "random erasing fills at least 2% with the mean (0)")
        XCTAssertLessThanOrEqual(Double(zeros), 0.45 * 512)
    }
}
