// WebDataset shards: writing and reading back gives every file's bytes and class index;
// the shard set is detected and opened with and without shards.json; ranks read disjoint
// shards and take the same number of steps; a mid-epoch resume continues exactly; the
// validation reader gives the same batches from shards as from folders; a synthetic
// set's manifest goes with its shards and no further; bad shards and
// bad class lists fail naming the file.
import Foundation
@testable import ReIDData
import XCTest

final class ShardTests: XCTestCase {
    var tree: ClassificationTree!
    var out: String!

    override func setUpWithError() throws {
        tree = try ClassificationTree.make(classes: ["c0", "c1", "c2"], perClass: 7, valPerClass: 3)
        out = tree.root + "-shards"
    }

    override func tearDownWithError() throws {
        tree.remove()
        try? FileManager.default.removeItem(atPath: out)
    }

    func writeShards(perShard: Int = 4) throws -> ClassificationDataset {
        let d = try ClassificationDataset.open(tree.root)
        for split in ClassificationSplit.allCases {
            var o = ShardWriter.Options()
            (o.split, o.imagesPerShard, o.seed) = (split, perShard, 3)
            try ShardWriter.write(d, out: out, options: o)
        }
        return d
    }

    func testRoundTripKeepsBytesAndLabels() throws {
        let d = try writeShards()
        let shards = try ClassificationDataset.open(out)
        XCTAssertEqual(shards.layout, .webdataset)
        XCTAssertEqual(shards.classNames, d.classNames)
        XCTAssertEqual(shards.trainShards.map(\.nsamples), [4, 4, 4, 4, 4, 1])
        XCTAssertEqual(shards.count(.val), 9)
        for (files, infos) in [(d.train, shards.trainShards), (d.val, shards.valShards)] {
            var read: [String: (Data, Int)] = [:]
            for info in infos {
                let r = try TarShardReader(path: info.url)
                while let s = try r.next() { read[s.member] = (s.bytes, s.label) }
            }
            XCTAssertEqual(read.count, files.count, "every file once")
            for s in files {
                let member = "\(d.classNames[s.label])/\((s.path as NSString).lastPathComponent)"
                let got = try XCTUnwrap(read[member], member)
                XCTAssertEqual(got.0, try Data(contentsOf: URL(fileURLWithPath: s.path)), member)
                XCTAssertEqual(got.1, s.label)
            }
        }
        // Writing again gives the same bytes (fixed order, owner and times).
        let first = try Data(contentsOf: URL(fileURLWithPath: shards.trainShards[2].url))
        _ = try writeShards()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: shards.trainShards[2].url)), first)
        // Without shards.json the counts come from the shards; a brace pattern selects shards.
        try FileManager.default.removeItem(atPath: out + "/shards.json")
        XCTAssertEqual(try ClassificationDataset.open(out).trainShards.map(\.nsamples), [4, 4, 4, 4, 4, 1])
        let some = try ClassificationDataset.open(out + "/train-{000001..000002}.tar")
        XCTAssertEqual(some.count(.train), 8)
        XCTAssertEqual(some.count(.val), 9)
    }

    func testSyntheticLabelTravelsWithTheShardsAndNeverOutlivesTheData() throws {
        let manifest = Data("{\"synthetic\": true}".utf8)
        try manifest.write(to: URL(fileURLWithPath: tree.root + "/manifest.json"))
        _ = try writeShards()
        XCTAssertEqual(FileManager.default.contents(atPath: out + "/manifest.json"), manifest)
        // The same folder rewritten from a set that is not synthetic loses the label.
        try FileManager.default.removeItem(atPath: tree.root + "/manifest.json")
        var logged: [String] = []
        let d = try ClassificationDataset.open(tree.root)
        var o = ShardWriter.Options()
        o.split = .val
        try ShardWriter.write(d, out: out, options: o) { logged.append($0) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/manifest.json"))
        XCTAssertTrue(logged.contains { $0.contains("synthetic label") }, "\(logged)")
    }

    func testRanksTakeEqualStepsOverDisjointShardsAndResumeExactly() throws {
        _ = try writeShards(perShard: 2)  // 11 train shards: ranks get 4, 4, 3 of them
        let d = try ClassificationDataset.open(out)
        var o = ClassificationSourceTests.options(batch: 6)
        o.shuffleBuffer = 3
        let ranks = try (0..<3).map { try ClassificationSource(dataset: d, options: o, rank: $0, world: 3) }
        XCTAssertTrue(ranks[0].perRankStream)
        XCTAssertEqual(ranks.map(\.batchesPerEpoch), [3, 3, 3])
        var labelsByRank: [[Int]] = []
        for r in ranks {
            let served = try servedEpoch(r, 1)
            XCTAssertEqual(served.count, 3)
            labelsByRank.append(served.flatMap(\.labels))
        }
        XCTAssertEqual(labelsByRank.map(\.count), [6, 6, 6])
        // Resume: every start point of epoch 1 continues with the same batches.
        let full = try servedEpoch(ranks[1], 1)
        for first in 1..<3 {
            let again = try ClassificationSource(dataset: d, options: o, rank: 1, world: 3)
            XCTAssertEqual(try servedEpoch(again, 1, from: first), Array(full.suffix(3 - first)),
                           "from batch \(first)")
        }
        // More ranks than shards: refused, naming the shard set.
        XCTAssertThrowsError(try ClassificationSource(dataset: d, options: ClassificationSourceTests.options(batch: 12),
                                                      rank: 0, world: 12)) {
            XCTAssertTrue("\($0)".contains("11 training shards for 12 ranks"), "\($0)")
        }
        // Another epoch deals other shards.
        XCTAssertNotEqual(try servedEpoch(ranks[1], 2), full)
    }

    func testRanksReadDisjointShardsAndWrapWhenShort() throws {
        _ = try writeShards(perShard: 3)  // 7 train shards of 3 samples
        let d = try ClassificationDataset.open(out)
        for epoch in 0..<3 {
            let dealt = (0..<2).map { ShardStream.rankShards(count: 7, rank: $0, world: 2, seed: 5, epoch: epoch, pass: 0) }
            XCTAssertEqual(dealt.map(\.count), [4, 3])
            XCTAssertEqual(Set(dealt[0]).union(dealt[1]), Set(0..<7))
            XCTAssertTrue(Set(dealt[0]).isDisjoint(with: dealt[1]))
        }
        // Rank 0 holds 12 samples, rank 1 holds 9. With a buffer of 4, output k has read k + 4
        // samples, so rank 0's first 8 and rank 1's first 5 outputs come before any wrap: distinct,
        // and disjoint across ranks; later outputs repeat the rank's own samples only.
        var keys: [[String]] = []
        for rank in 0..<2 {
            let stream = try ShardStream(shards: d.trainShards, rank: rank, world: 2, seed: 5, epoch: 0, bufferSize: 4)
            keys.append(try (0..<12).map { _ in try stream.next().key })
        }
        XCTAssertEqual(Set(keys[0].prefix(8)).count, 8)
        XCTAssertEqual(Set(keys[1].prefix(5)).count, 5)
        XCTAssertTrue(Set(keys[0]).isDisjoint(with: keys[1]))
        XCTAssertEqual(Set(keys[1]).count, 9, "rank 1 wrapped over its own 9 samples")
        // The shuffle buffer mixes: the stream's order is not the shards' order.
        let plain = try ShardStream(shards: d.trainShards, rank: 0, world: 2, seed: 5, epoch: 0, bufferSize: 1)
        XCTAssertNotEqual(try (0..<12).map { _ in try plain.next().key }, keys[0])
    }

    func testValidationFromShardsEqualsFolders() throws {
        let d = try writeShards()
        var t = ClassificationTransform()
        (t.size, t.resize) = (16, 20)
        // Image bits -> label: the same images, whichever rank read them.
        func collect(_ data: ClassificationDataset, world: Int) throws -> [[UInt32]: Int] {
            var byLabel: [[UInt32]: Int] = [:]
            for rank in 0..<world {
                try ValidationReader(dataset: data, transform: t, batchSize: 2, rank: rank, world: world).forEach { b in
                    let per = 16 * 16 * 3, bits = b.images.toArray().map(\.bitPattern)
                    for j in 0..<b.count { byLabel[Array(bits[(j * per)..<((j + 1) * per)])] = b.pids[j] }
                }
            }
            return byLabel
        }
        let folder = try collect(d, world: 1)
        let shards = try collect(try ClassificationDataset.open(out), world: 2)
        XCTAssertEqual(folder.count, 9)
        XCTAssertTrue(folder == shards, "validation images from shards differ from the folder's")
    }

    func testBadShardsNameTheFile() throws {
        _ = try writeShards()
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: out + "/train-000001.tar"))
        XCTAssertThrowsError(try TarShardReader.count(out + "/train-000001.tar")) {
            XCTAssertTrue("\($0)".hasPrefix("\(out!)/train-000001.tar:"), "\($0)")
        }
        // A sample without its class member.
        let w = try TarShardWriter(path: out + "/train-000002.tar")
        try w.add(name: "c0/x.jpg", bytes: Data([0xFF, 0xD8, 0xFF]))
        try w.finish()
        XCTAssertThrowsError(try TarShardReader(path: out + "/train-000002.tar").next()) {
            XCTAssertEqual("\($0)", "\(out!)/train-000002.tar: sample c0/x has no .cls member")
        }
        try "{\"0\": \"a\", \"2\": \"b\"}".write(toFile: out + "/classes.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ClassificationDataset.open(out)) {
            XCTAssertTrue("\($0)".contains("classes.json: class index 1 missing"), "\($0)")
        }
        try "[\"a\", \"b\"]".write(toFile: out + "/classes.json", atomically: true, encoding: .utf8)
        // A class list that differs from the data set's is not overwritten.
        XCTAssertThrowsError(try writeShards()) { XCTAssertTrue("\($0)".contains("classes.json: lists 2 classes"), "\($0)") }
    }

    /// An image that is not whole (truncated, not an image, a header beyond the pixel
    /// limit) is named when the shards are written, and no shard is left.
    func testDamagedImageIsNamedAndNoShardIsWritten() throws {
        let victim = tree.root + "/train/c1/c1_3.JPEG"
        let good = try Data(contentsOf: URL(fileURLWithPath: victim))
        var bomb = good
        let sof = try XCTUnwrap((2..<(bomb.count - 9)).first { bomb[$0] == 0xFF && bomb[$0 + 1] == 0xC0 })
        bomb.replaceSubrange((sof + 5)..<(sof + 9), with: [0x4E, 0x20, 0x4E, 0x20])  // 20000 x 20000
        for (bytes, message) in [(good.prefix(good.count - 40), "truncated JPEG"), (Data("text".utf8), "not a JPEG or PNG"),
                                 (bomb, "the header claims 20000x20000 pixels")] {
            try bytes.write(to: URL(fileURLWithPath: victim))
            try? FileManager.default.removeItem(atPath: out)
            XCTAssertThrowsError(try writeShards()) {
                XCTAssertTrue("\($0)".hasPrefix("\(victim): ") && "\($0)".contains(message), "\($0)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(message): the folder made for the shards was left")
        }
    }

    /// A write that fails into an existing folder leaves it as it was.
    func testFailedWriteKeepsAnExistingFolder() throws {
        _ = try writeShards()
        let before = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        try Data("text".utf8).write(to: URL(fileURLWithPath: tree.root + "/train/c0/c0_1.JPEG"))
        XCTAssertThrowsError(try writeShards())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(), before)
    }

    /// PNGs are checked for their header and their IEND chunk without being decoded.
    func testWholePNGCheck() throws {
        let codec = ImageCodec(maxImagePixels: 1000)
        let png = try codec.encodePNG(ClassificationTree.image(seed: 1, width: 20, height: 10))
        XCTAssertNoThrow(try codec.checkWhole(png, path: "a.png"))
        XCTAssertThrowsError(try codec.checkWhole(png.prefix(png.count - 12), path: "a.png")) {
            XCTAssertEqual("\($0)", "a.png: truncated PNG (\(png.count - 12) bytes): the data ends before its IEND chunk")
        }
        XCTAssertNoThrow(try codec.checkWhole(png + Data("trailing".utf8), path: "a.png"), "bytes after IEND, as decoders allow")
        var huge = png
        huge.replaceSubrange(16..<24, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertThrowsError(try codec.checkWhole(huge, path: "h.png")) {
            XCTAssertEqual("\($0)", "h.png: corrupt PNG header: 4294967295x4294967295 pixels")
        }
        huge.replaceSubrange(16..<24, with: [0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF])
        XCTAssertThrowsError(try codec.checkWhole(huge, path: "h.png")) {
            XCTAssertTrue("\($0)".contains("h.png: the header claims 2147483647x2147483647 pixels (4611686014132420609), above"), "\($0)")
        }
        let large = try codec.encodePNG(ClassificationTree.image(seed: 1, width: 40, height: 30))
        XCTAssertThrowsError(try codec.checkWhole(large, path: "b.png")) {
            XCTAssertTrue("\($0)".contains("b.png: the header claims 40x30 pixels"), "\($0)")
        }
    }
}
