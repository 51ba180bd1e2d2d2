// Classification transforms: the evaluation transform equals torchvision's Resize +
// CenterCrop on Pillow images within one intensity level (fixtures from
// benchmarks/make_classification_fixtures.py); the cropped jpeglib decode equals a full
// decode then crop (at full and at DCT-reduced scale); RandomResizedCrop's boxes keep to
// the image and to the scale and ratio ranges; bad JPEG data fails naming the image.
import Foundation
@testable import ReIDData
import Tensors
import XCTest

final class ClassificationTransformTests: XCTestCase {
    let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    struct Case: Decodable { let input: String; let resize: Int; let crop: Int; let expected: String }

    func data(_ name: String) throws -> Data { try Data(contentsOf: fixtures.appendingPathComponent(name)) }

    static func maxDifference(_ a: RGBImage, _ b: RGBImage) -> Int {
        precondition(a.width == b.width && a.height == b.height)
        return zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }

    func testEvaluationEqualsTorchvisionOnPillow() throws {
        let cases = try JSONDecoder().decode([Case].self, from: try data("classification_eval/manifest.json"))
        XCTAssertEqual(cases.count, 9)
        let codec = ImageCodec()
        for c in cases {
            var t = ClassificationTransform()
            (t.resize, t.size) = (c.resize, c.crop)
            let expected = try codec.decode(try data(c.expected))
            let got = try ClassificationDecoder(transform: t).evaluation(try data(c.input), name: c.input)
            XCTAssertEqual(got.width, c.crop)
            XCTAssertLessThanOrEqual(Self.maxDifference(got, expected), 1, c.input)
            // The window computed alone equals resizing the whole image and cropping.
            let full = try codec.decode(try data(c.input))
            let g = t.evaluationGeometry(width: full.width, height: full.height)
            XCTAssertEqual(got, ClassificationDecoder.crop(Resize.bilinear(full, height: g.height, width: g.width), g.crop), c.input)
        }
    }

    func testEvaluationGeometryTruncatesAndRoundsHalfToEven() {
        var t = ClassificationTransform()
        (t.resize, t.size) = (256, 224)
        let a = t.evaluationGeometry(width: 500, height: 375)  // 256 * 500 / 375 = 341.33 -> 341
        XCTAssertEqual([a.width, a.height, a.crop.x, a.crop.y], [341, 256, 58, 16])  // (341-224)/2 = 58.5 -> 58
        let b = t.evaluationGeometry(width: 333, height: 500)  // 256 * 500 / 333 = 384.38 -> 384
        XCTAssertEqual([b.width, b.height, b.crop.x, b.crop.y], [256, 384, 16, 80])
        let c = t.evaluationGeometry(width: 300, height: 227)  // 338.3 -> 338; (338-224)/2 = 57
        XCTAssertEqual([c.width, c.crop.x], [338, 57])
        let d = t.evaluationGeometry(width: 229, height: 300)  // 256; 300*256/229 = 335.4 -> 335: 55.5 -> 56
        XCTAssertEqual([d.height, d.crop.y], [335, 56])
    }

    func testCroppedDecodeEqualsFullDecodeThenCrop() throws {
        let codec = ImageCodec()
        let decoder = ClassificationDecoder(transform: ClassificationTransform())
        var rng = SeededRandom(seed: 3)
        for name in ["a420.jpg", "b444.jpg", "c420.jpg", "gray.jpg", "cmyk.jpg", "ycck.jpg", "progressive.jpg",
                     "classification_eval/imagenet_300x227.jpg"] {
            let bytes = try data(name)
            let full = try codec.decode(bytes)
            var worst = 0, differing = 0, total = 0
            for _ in 0..<12 {
                let w = 1 + rng.int(full.width), h = 1 + rng.int(full.height)
                let box = ClassificationTransform.Box(x: rng.int(full.width - w + 1), y: rng.int(full.height - h + 1),
                                                      width: w, height: h)
                let region = try decoder.decodeRegion(bytes, name: name, box: box, divisor: 1)
                let expected = ClassificationDecoder.crop(full, box)
                XCTAssertEqual([region.width, region.height], [w, h], name)
                worst = max(worst, Self.maxDifference(region, expected))
                differing += zip(region.pixels, expected.pixels).filter { $0 != $1 }.count
                total += region.pixels.count
            }
            // The decoder keeps a margin around the region, so chroma upsampling sees the same
            // neighbours as in the full decode: the same pixels.
            XCTAssertEqual(worst, 0, name)
            XCTAssertEqual(differing, 0, name)
            XCTAssertGreaterThan(total, 0)
        }
    }

    func testScaledCroppedDecodeEqualsScaledFullDecodeThenCrop() throws {
        let bytes = try data("classification_eval/imagenet_300x227.jpg")
        let decoder = ClassificationDecoder(transform: ClassificationTransform())
        for divisor in [2, 4, 8] {
            let whole = try decoder.decodeRegion(bytes, name: "x", box: .init(x: 0, y: 0, width: 300, height: 227),
                                                 divisor: divisor)
            XCTAssertEqual([whole.width, whole.height], [(300 + divisor - 1) / divisor, (227 + divisor - 1) / divisor])
            let box = ClassificationTransform.Box(x: 37, y: 50, width: 201, height: 150)
            let region = try decoder.decodeRegion(bytes, name: "x", box: box, divisor: divisor)
            let scaled = ClassificationTransform.Box(x: 37 / divisor, y: 50 / divisor, width: region.width, height: region.height)
            XCTAssertEqual(region.width, (37 + 201 + divisor - 1) / divisor - 37 / divisor)
            XCTAssertLessThanOrEqual(Self.maxDifference(region, ClassificationDecoder.crop(whole, scaled)), 3, "1/\(divisor)")
        }
        XCTAssertEqual(ClassificationDecoder.scaleDivisor(.init(x: 0, y: 0, width: 460, height: 900), size: 224), 2)
        XCTAssertEqual(ClassificationDecoder.scaleDivisor(.init(x: 0, y: 0, width: 447, height: 900), size: 224), 1)
        XCTAssertEqual(ClassificationDecoder.scaleDivisor(.init(x: 0, y: 0, width: 1800, height: 1800), size: 224), 8)
    }

    func testTrainingTransformMatchesFullDecodeWithoutScaling() throws {
        let bytes = try data("classification_eval/imagenet_300x227.jpg")
        var t = ClassificationTransform()
        (t.size, t.dctScaling) = (64, false)
        let decoder = ClassificationDecoder(transform: t)
        let full = try ImageCodec().decode(bytes)
        for i in 0..<6 {
            var a = SeededRandom(seed: 9, keys: i), b = a
            let (image, flip) = try decoder.training(bytes, name: "x", rng: &a)
            let box = t.randomCrop(width: 300, height: 227, rng: &b)
            XCTAssertEqual(flip, b.uniform() < 0.5)
            let expected = Resize.bilinear(ClassificationDecoder.crop(full, box), height: 64, width: 64)
            XCTAssertLessThanOrEqual(Self.maxDifference(image, expected), 3)
        }
        // PNG takes the full decode.
        var r = SeededRandom(seed: 1)
        XCTAssertEqual(try decoder.training(try data("d.png"), name: "d.png", rng: &r).image.width, 64)
    }

    func testRandomResizedCropKeepsToItsRanges() {
        let t = ClassificationTransform()
        var rng = SeededRandom(seed: 4)
        for _ in 0..<500 {
            let (w, h) = (16 + rng.int(600), 16 + rng.int(600))
            let b = t.randomCrop(width: w, height: h, rng: &rng)
            XCTAssertTrue(b.x >= 0 && b.y >= 0 && b.width >= 1 && b.height >= 1 && b.x + b.width <= w && b.y + b.height <= h)
        }
        // A very wide image falls back to the widest allowed ratio, centered.
        var always = ClassificationTransform()
        always.scale = [1, 1]
        let b = always.randomCrop(width: 1000, height: 100, rng: &rng)
        XCTAssertEqual(b, .init(x: (1000 - 133) / 2, y: 0, width: 133, height: 100))
        // Sizes drawn when it fits: area and aspect inside the ranges (up to rounding).
        var areas: [Double] = []
        for _ in 0..<300 {
            let c = t.randomCrop(width: 400, height: 400, rng: &rng)
            areas.append(Double(c.width * c.height) / 160_000)
            XCTAssertLessThanOrEqual(Double(c.width) / Double(c.height), 4.0 / 3 * 1.05)
            XCTAssertGreaterThanOrEqual(Double(c.width) / Double(c.height), 3.0 / 4 / 1.05)
        }
        XCTAssertGreaterThan(areas.min()!, 0.07)
        XCTAssertLessThan(areas.min()!, 0.2)
        XCTAssertGreaterThan(areas.max()!, 0.8)
    }

    func testCorruptJPEGNamesTheImage() throws {
        var bytes = try data("c420.jpg")
        bytes = bytes.prefix(bytes.count / 2) + Data(repeating: 0x55, count: 200) + Data([0xFF, 0xD9])
        let decoder = ClassificationDecoder(transform: ClassificationTransform())
        var rng = SeededRandom(seed: 1)
        XCTAssertThrowsError(try decoder.decodeRegion(bytes, name: "bad.jpg", box: .init(x: 0, y: 0, width: 129, height: 67),
                                                      divisor: 1)) {
            XCTAssertTrue("\($0)".hasPrefix("bad.jpg: corrupt JPEG"), "\($0)")
        }
        XCTAssertThrowsError(try decoder.training(Data([0xFF, 0xD8, 0xFF, 0x00]), name: "tiny.jpg", rng: &rng)) {
            XCTAssertTrue("\($0)".hasPrefix("tiny.jpg: corrupt JPEG header"), "\($0)")
        }
        XCTAssertThrowsError(try decoder.evaluation(Data("GIF89a".utf8), name: "x.gif")) {
            XCTAssertTrue("\($0)".hasPrefix("x.gif: not a JPEG or PNG image"), "\($0)")
        }
    }
}

final class ClassificationFusedTransformTests: XCTestCase {
    /// The training path's resize + flip + normalize equals resizing, then normalizing:
    /// exactly for crops not taller than the output, within one level for taller ones
    /// (shrunk vertically first).
    func testFusedTrainingPathEqualsResizeThenNormalize() throws {
        let bytes = try Data(contentsOf: Bundle.module.resourceURL!.appendingPathComponent("Fixtures/classification_eval/imagenet_300x227.jpg"))
        var t = ClassificationTransform()
        t.size = 48
        let decoder = ClassificationDecoder(transform: t)
        let n = 48 * 48 * 3
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n), b = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { a.deallocate(); b.deallocate() }
        var flips = Set<Bool>()
        let level: Float = 1 / (255 * 0.224) + 1e-5  // one intensity level in the channel of smallest std
        for i in 0..<10 {
            var r1 = SeededRandom(seed: 2, keys: i), r2 = r1
            try decoder.training(bytes, name: "x", rng: &r1, into: a)
            let (image, flip) = try decoder.training(bytes, name: "x", rng: &r2)
            t.normalize(image, flip: flip, into: b)
            flips.insert(flip)
            let tolerance = level  // these crops are taller than 48: vertical pass first
            var worst: Float = 0
            for j in 0..<n { worst = max(worst, abs(a[j] - b[j])) }
            XCTAssertLessThanOrEqual(worst, tolerance, "sample \(i)")
        }
        XCTAssertEqual(flips, [false, true])
        // Not taller than the output: Pillow's order, the same values.
        for (w, h) in [(60, 48), (30, 40), (48, 17)] {
            let image = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { UInt8(($0 * 7) % 251) })
            t.resizeNormalize(image, flip: true, into: a)
            t.normalize(Resize.bilinear(image, height: 48, width: 48), flip: true, into: b)
            for j in 0..<n { XCTAssertEqual(a[j], b[j], accuracy: 1e-5, "\(w)x\(h)") }
        }
    }
}
