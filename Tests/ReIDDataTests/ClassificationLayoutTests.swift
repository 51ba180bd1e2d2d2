// Classification layouts: detection of imagenet, imagefolder and webdataset and its
// refusal of the custom re-ID layout; class indices as ImageFolder's sorted names; flat
// ImageNet val with LOC_val_solution.csv; errors that name the path.
import Foundation
@testable import ReIDData
import XCTest

final class ClassificationLayoutTests: XCTestCase {
    func testImageFolderClassesAreSortedFolderNames() throws {
        let tree = try ClassificationTree.make(classes: ["zebra", "ant", "moth"], perClass: 3)
        defer { tree.remove() }
        XCTAssertEqual(try ClassificationLayout.detect(tree.root), .imagefolder)
        let d = try ClassificationDataset.open(tree.root)
        XCTAssertEqual(d.classNames, ["ant", "moth", "zebra"])
        XCTAssertEqual(d.numClasses, 3)
        XCTAssertEqual(d.train.count, 9)
        XCTAssertEqual(d.val.count, 6)
        for s in Array(d.train) + Array(d.val) {
            XCTAssertEqual(URL(fileURLWithPath: s.path).deletingLastPathComponent().lastPathComponent, d.classNames[s.label])
        }
        XCTAssertEqual(d.train.map(\.label), [0, 0, 0, 1, 1, 1, 2, 2, 2])
    }

    func testSampleListGivesBackWhatWasStored() {
        let samples = [ClassificationSample(path: "/d/train/a/x.JPEG", label: 0), .init(path: "/d/train/a/y.jpg", label: 0),
                       .init(path: "/d/train/b/\u{e9}t\u{e9}.png", label: 1), .init(path: "/d/val/z.JPEG", label: 1),
                       .init(path: "/d/train/a/w.jpeg", label: 0)]
        let list = SampleList(samples)
        XCTAssertEqual(Array(list), samples)
        XCTAssertEqual(list.count, 5)
        XCTAssertEqual(list.label(2), 1)
        XCTAssertTrue(SampleList().isEmpty)
    }

    func testClassOrderIsPythonsCodePointOrder() throws {
        // Python: sorted(["\u00e9a", "e\u0301x", "Zeta", "alpha"]) == ["Zeta", "alpha", "e\u0301x", "\u00e9a"];
        // Swift's String order would put "\u00e9a" before "e\u0301x" (compared as "\u00e9x").
        XCTAssertEqual(FolderLayout.pythonSorted(["\u{e9}a", "e\u{301}x", "Zeta", "alpha"]).map { Array($0.unicodeScalars) },
                       ["Zeta", "alpha", "e\u{301}x", "\u{e9}a"].map { Array($0.unicodeScalars) })
    }

    func testImageNetFlatValWithSolutionFile() throws {
        let tree = try ClassificationTree.make(classes: ["n01440764", "n01443537"], perClass: 2, valPerClass: 0)
        defer { tree.remove() }
        let val = tree.root + "/val"
        try FileManager.default.removeItem(atPath: val)
        try FileManager.default.createDirectory(atPath: val, withIntermediateDirectories: true)
        let jpeg = try ImageCodec().encodeJPEG(ClassificationTree.image(seed: 1, width: 20, height: 20), quality: 90)
        for i in 1...3 { try jpeg.write(to: URL(fileURLWithPath: String(format: "\(val)/ILSVRC2012_val_%08d.JPEG", i))) }
        let csv = "ImageId,PredictionString\nILSVRC2012_val_00000002,n01443537 1 2 3 4 n01443537 5 6 7 8\n"
            + "ILSVRC2012_val_00000001,n01440764 1 2 3 4\nILSVRC2012_val_00000003,n01443537 0 0 9 9\n"
        try csv.write(toFile: tree.root + "/LOC_val_solution.csv", atomically: true, encoding: .utf8)
        XCTAssertEqual(try ClassificationLayout.detect(tree.root), .imagenet)
        let d = try ClassificationDataset.open(tree.root)
        XCTAssertEqual(d.val.map(\.label), [0, 1, 1])
        XCTAssertEqual(d.val.map { ($0.path as NSString).lastPathComponent },
                       ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG", "ILSVRC2012_val_00000003.JPEG"])

        // A val image the solution file does not list.
        try jpeg.write(to: URL(fileURLWithPath: "\(val)/ILSVRC2012_val_00000004.JPEG"))
        XCTAssertThrowsError(try ClassificationDataset.open(tree.root)) { error in
            XCTAssertTrue("\(error)".contains("ILSVRC2012_val_00000004.JPEG: validation image with no label"), "\(error)")
        }
    }

    func testKaggleTreeWithTheSolutionFileAtItsTop() throws {
        let tree = try ClassificationTree.make(classes: ["n01440764", "n01443537"], perClass: 1, valPerClass: 0)
        defer { tree.remove() }
        let top = tree.root + "-kaggle"
        defer { try? FileManager.default.removeItem(atPath: top) }
        try FileManager.default.createDirectory(atPath: top + "/ILSVRC/Data", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: tree.root, toPath: top + "/ILSVRC/Data/CLS-LOC")
        let val = top + "/ILSVRC/Data/CLS-LOC/val"
        try FileManager.default.removeItem(atPath: val)
        try FileManager.default.createDirectory(atPath: val, withIntermediateDirectories: true)
        let jpeg = try ImageCodec().encodeJPEG(ClassificationTree.image(seed: 2, width: 16, height: 16), quality: 90)
        try jpeg.write(to: URL(fileURLWithPath: val + "/ILSVRC2012_val_00000001.JPEG"))
        try "ImageId,PredictionString\nILSVRC2012_val_00000001,n01443537 1 2 3 4\n"
            .write(toFile: top + "/LOC_val_solution.csv", atomically: true, encoding: .utf8)
        XCTAssertEqual(try ClassificationLayout.detect(top), .imagenet)
        let d = try ClassificationDataset.open(top)
        XCTAssertEqual(d.classNames, ["n01440764", "n01443537"])
        XCTAssertEqual(d.val.map(\.label), [1])
        XCTAssertEqual(try ClassificationDataset.open(top + "/ILSVRC/Data/CLS-LOC").val.map(\.label), [1])
    }

    func testReIDLayoutIsNotClassification() throws {
        let tree = try ClassificationTree.make(classes: ["0001", "0002"], perClass: 1)
        defer { tree.remove() }
        for extra in ["query", "gallery"] {
            try FileManager.default.createDirectory(atPath: tree.root + "/" + extra + "/0001", withIntermediateDirectories: true)
        }
        XCTAssertNil(ClassificationLayout.recognize(tree.root))
        XCTAssertThrowsError(try ClassificationLayout.detect(tree.root)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(tree.root): the folder matches no classification"), "\(error)")
        }
        XCTAssertEqual(try DatasetReader.detect(tree.root), .custom)
    }

    func testEmptyClassFolderAndMissingFolderNameThePath() throws {
        let tree = try ClassificationTree.make(classes: ["a", "b"], perClass: 1)
        defer { tree.remove() }
        try FileManager.default.createDirectory(atPath: tree.root + "/train/c", withIntermediateDirectories: true)
        XCTAssertThrowsError(try ClassificationDataset.open(tree.root)) { error in
            XCTAssertEqual("\(error)", "\(tree.root)/train/c: class folder with no images (jpg, jpeg, png)")
        }
        XCTAssertThrowsError(try ClassificationLayout.detect(tree.root + "/nope")) { error in
            XCTAssertEqual("\(error)", "\(tree.root)/nope: no such folder")
        }
        XCTAssertThrowsError(try ClassificationDataset.open(tree.root + "/train", layout: .imagefolder)) { error in
            XCTAssertTrue("\(error)".contains("\(tree.root)/train/train: missing folder"), "\(error)")
        }
    }

    func testBracePatternExpansion() throws {
        XCTAssertEqual(try ShardPattern.expand("d/train-{000008..000011}.tar"),
                       ["d/train-000008.tar", "d/train-000009.tar", "d/train-000010.tar", "d/train-000011.tar"])
        XCTAssertEqual(try ShardPattern.expand("{a,b}-{1..2}"), ["a-1", "a-2", "b-1", "b-2"])
        XCTAssertThrowsError(try ShardPattern.expand("train-{5..2}.tar"))
        XCTAssertEqual(ClassificationLayout.recognize("/x/train-{000000..000127}.tar"), .webdataset)
    }
}
