// Synthetic classification set: written in the ImageNet layout that the classification
// reader detects, image sides within 160-500 px with varied aspect, labelled synthetic,
// the same seed gives the same bytes, and classes differ from one another.
import Foundation
import ReIDData
import XCTest

final class SynthClassificationTests: XCTestCase {
    func testLayoutSizesAndDeterminism() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-synthcls-\(UUID().uuidString)").path
        defer {
            try? FileManager.default.removeItem(atPath: base + "-a")
            try? FileManager.default.removeItem(atPath: base + "-b")
        }
        var o = SynthClassificationOptions()
        (o.classes, o.imagesPerClass, o.valPerClass, o.seed) = (3, 4, 2, 7)
        let m = try SynthClassification.generate(o, out: base + "-a")
        XCTAssertTrue(m.synthetic)
        XCTAssertEqual([m.train, m.val], [12, 6])
        XCTAssertTrue(m.classes.values.allSatisfy { $0.hasSuffix("(synthetic)") })
        XCTAssertEqual(try ClassificationLayout.detect(base + "-a"), .imagenet)
        let d = try ClassificationDataset.open(base + "-a")
        XCTAssertEqual(d.classNames, ["n00000000", "n00000001", "n00000002"])
        XCTAssertEqual([d.train.count, d.val.count], [12, 6])
        let codec = ImageCodec()
        var aspects: [Double] = []
        for s in Array(d.train) + Array(d.val) {
            let image = try codec.decode(path: s.path)
            XCTAssertTrue((160...500).contains(image.width) && (160...500).contains(image.height), "\(image.width)x\(image.height)")
            aspects.append(Double(image.width) / Double(image.height))
        }
        XCTAssertGreaterThan(aspects.max()! / aspects.min()!, 1.2, "aspect ratios vary")
        // The same options again: kept; another folder: the same bytes.
        XCTAssertEqual(try SynthClassification.generate(o, out: base + "-a").train, 12)
        try SynthClassification.generate(o, out: base + "-b")
        for s in d.train {
            let other = s.path.replacingOccurrences(of: base + "-a", with: base + "-b")
            XCTAssertEqual(FileManager.default.contents(atPath: s.path), FileManager.default.contents(atPath: other))
        }
        // Other options into an existing set are refused.
        o.seed = 8
        XCTAssertThrowsError(try SynthClassification.generate(o, out: base + "-a")) {
            XCTAssertTrue("\($0)".contains("exists and is not a set made by"), "\($0)")
        }
        o.classes = 1
        XCTAssertThrowsError(try SynthClassification.generate(o, out: base + "-c")) {
            XCTAssertEqual("\($0)", "synth: --classes must be in 2...100000, got 1")
        }
    }
}
