// ClassificationSource and ValidationReader across ranks: with the global sampler, the
// ranks' batches put together are 1 rank's batches bit for bit; a resumed epoch continues
// with the batches it would have seen (folder and shards); shard ranks take the same
// number of steps and read disjoint samples; the validation slices cover the split once.
import Foundation
import ReIDData
import XCTest

final class ClassificationSourceTests: XCTestCase {
    var tree: ClassificationTree!

    override func setUpWithError() throws {
        tree = try ClassificationTree.make(classes: ["c0", "c1", "c2", "c3"], perClass: 6, valPerClass: 3)
    }

    override func tearDownWithError() throws { tree.remove() }

    static func options(batch: Int, workers: Int = 2) -> ClassificationLoaderOptions {
        var o = ClassificationLoaderOptions()
        o.globalBatch = batch
        o.workers = workers
        o.seed = 5
        o.shuffleBuffer = 5
        o.transform.size = 16
        o.transform.resize = 20
        return o
    }

    func testFolderRanksTogetherEqualOneRank() throws {
        let d = try ClassificationDataset.open(tree.root)
        let one = try ClassificationSource(dataset: d, options: Self.options(batch: 4), rank: 0, world: 1)
        let ranks = try (0..<2).map { try ClassificationSource(dataset: d, options: Self.options(batch: 4), rank: $0, world: 2) }
        XCTAssertFalse(one.perRankStream)
        XCTAssertEqual(one.batchesPerEpoch, 6)
        XCTAssertEqual(ranks[1].localBatch, 2)
        for e in 0..<2 {
            let a = try servedEpoch(one, e)
            let parts = try ranks.map { try servedEpoch($0, e) }
            for b in 0..<a.count { XCTAssertEqual(a[b], Served(concatenating: [parts[0][b], parts[1][b]]), "epoch \(e) batch \(b)") }
            XCTAssertEqual(Set(a.flatMap(\.labels)).count, 4)
        }
        XCTAssertNotEqual(try servedEpoch(one, 0), try servedEpoch(one, 1))
        // Resuming inside the epoch, with another worker count.
        let resumed = try ClassificationSource(dataset: d, options: Self.options(batch: 4, workers: 3), rank: 0, world: 1)
        XCTAssertEqual(try servedEpoch(resumed, 1, from: 4), Array(try servedEpoch(one, 1).suffix(2)))
    }

    func testValidationSlicesCoverTheSplitOnce() throws {
        let d = try ClassificationDataset.open(tree.root)
        var t = ClassificationTransform()
        (t.size, t.resize) = (16, 20)
        var all: [Int] = []
        var bits: [UInt32] = []
        for rank in 0..<3 {
            let r = try ValidationReader(dataset: d, transform: t, batchSize: 2, rank: rank, world: 3)
            XCTAssertEqual(r.totalCount, 12)
            try r.forEach { b in
                all += b.pids
                bits += b.images.toArray().map(\.bitPattern)
                XCTAssertEqual(b.images.shape, [b.count, 16, 16, 3])
            }
        }
        XCTAssertEqual(all, d.val.map(\.label))
        var one: [UInt32] = []
        try ValidationReader(dataset: d, transform: t, batchSize: 5).forEach { one += $0.images.toArray().map(\.bitPattern) }
        XCTAssertEqual(one, bits)
    }

    func testUnreadableValidationImageNamesIt() throws {
        let d = try ClassificationDataset.open(tree.root)
        try Data("broken".utf8).write(to: URL(fileURLWithPath: d.val[7].path))
        var t = ClassificationTransform()
        (t.size, t.resize) = (16, 20)
        XCTAssertThrowsError(try ValidationReader(dataset: d, transform: t, batchSize: 3, workers: 3).forEach { _ in }) {
            XCTAssertEqual("\($0)", "\(d.val[7].path): not a JPEG or PNG image (6 bytes, unknown signature)")
        }
    }

    func testBadBatchAndUnreadableImage() throws {
        let d = try ClassificationDataset.open(tree.root)
        XCTAssertThrowsError(try ClassificationSource(dataset: d, options: Self.options(batch: 5), rank: 0, world: 2)) {
            XCTAssertTrue("\($0)".contains("global batch 5 must be a positive multiple of the rank count 2"), "\($0)")
        }
        XCTAssertThrowsError(try ClassificationSource(dataset: d, options: Self.options(batch: 48))) {
            XCTAssertTrue("\($0)".contains("24 training images, fewer than one global batch of 48"), "\($0)")
        }
        for s in d.train { try Data("not an image".utf8).write(to: URL(fileURLWithPath: s.path)) }
        let s = try ClassificationSource(dataset: d, options: Self.options(batch: 4))
        s.startEpoch(0)
        XCTAssertThrowsError(try s.next()) { XCTAssertTrue("\($0)".contains("not a JPEG or PNG image"), "\($0)") }
    }
}

final class ClassificationSourceLifetimeTests: XCTestCase {
    /// Sources released while their workers plan and build batches end cleanly.
    func testSourceReleasedWhileBuilding() throws {
        let tree = try ClassificationTree.make(classes: ["a", "b"], perClass: 6, valPerClass: 1)
        defer { tree.remove() }
        let d = try ClassificationDataset.open(tree.root)
        var o = ClassificationSourceTests.options(batch: 2, workers: 4)
        o.prefetch = 4
        for i in 0..<40 {
            let s = try ClassificationSource(dataset: d, options: o)
            s.startEpoch(i % 3)
            if i % 2 == 0 { _ = try s.next() }
        }
        Thread.sleep(forTimeInterval: 0.3)
    }
}
