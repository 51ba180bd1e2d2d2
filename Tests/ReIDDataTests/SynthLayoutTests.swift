// SynthReID sets at the edges of Market-1501's ranges (1501 identities, 6 cameras): within
// them the Market layout, beyond them the custom CSV layout; every set reads back with
// layout detection, with the planned pids, cameras, distractors and junk.
import Foundation
@testable import ReIDData
import XCTest

final class SynthLayoutTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-synth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// Small, cheap sets: four 32x16 images per identity.
    func tiny(ids: Int, cameras: Int) -> SynthOptions {
        var o = SynthOptions()
        o.domain = "street"
        o.ids = ids
        o.cameras = cameras
        o.imagesPerId = 4
        o.height = 32
        o.width = 16
        o.seed = 2
        return o
    }

    /// Generates `o` in the layout expected and reads it back with detection: the counts
    /// of the manifest (junk never enters a split), the identities of each split, and every
    /// image with the pid and camera it was planned with.
    @discardableResult
    func generateAndRead(_ o: SynthOptions, expect layout: DatasetKind) throws -> ReIDDataset {
        let out = root.appendingPathComponent("set-\(o.ids)-\(o.cameras)").path
        let m = try SynthReID.generate(o, out: out)
        XCTAssertEqual(m.layout, layout)
        XCTAssertEqual(m.layoutReason, o.customLayoutReason)
        XCTAssertEqual(try DatasetReader.detect(out), layout)
        let d = try DatasetReader.read(root: out)
        XCTAssertEqual(d.train.count, m.train)
        XCTAssertEqual(d.query.count, m.query)
        XCTAssertEqual(d.gallery.count, m.gallery - m.junk)
        XCTAssertGreaterThan(m.junk, 0)
        XCTAssertEqual(d.gallery.filter { $0.pid == 0 }.count, m.distractors)
        XCTAssertGreaterThan(m.distractors, 0)
        let testIds = Set((m.trainIds + 1)...o.ids)
        XCTAssertEqual(Set(d.train.map(\.pid)), Set(1...m.trainIds))
        XCTAssertEqual(Set(d.query.map(\.pid)), testIds)
        XCTAssertEqual(Set(d.gallery.map(\.pid)), testIds.union([0]))
        XCTAssertEqual(Set((d.train + d.query + d.gallery).map(\.camid)), Set(0..<o.cameras))
        let plan = SynthReID.plan(o, people: SynthReID.people(o))
        for (split, records) in [(SynthReID.Split.train, d.train), (.query, d.query), (.gallery, d.gallery)] {
            let planned = plan.jobs.filter { $0.split == split && $0.pid != -1 }.sorted { $0.name < $1.name }
            XCTAssertEqual(records.map { ($0.path as NSString).lastPathComponent }, planned.map(\.name))
            XCTAssertEqual(records.map(\.pid), planned.map(\.pid))
            XCTAssertEqual(records.map(\.camid), planned.map(\.camid))
            XCTAssertEqual(records.filter { !FileManager.default.fileExists(atPath: $0.path) }.map(\.path), [])
        }
        return d
    }

    func testUpToSixCamerasWriteMarketLayout() throws {
        for cameras in [2, 6] {
            try generateAndRead(tiny(ids: 30, cameras: cameras), expect: .market1501)
        }
        let out = root.appendingPathComponent("set-30-6").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/bounding_box_test"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/train.csv"))
    }

    /// A set's folder may lie several levels below an existing folder (as a recipe's
    /// `data.root: data/synth/NAME` in a fresh checkout): they are made; a file on the way
    /// is refused naming it.
    func testSetFolderBelowMissingFoldersIsMade() throws {
        let out = root.appendingPathComponent("data/synth/set").path
        try SynthReID.generate(tiny(ids: 4, cameras: 2), out: out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/manifest.json"))
        try Data("x".utf8).write(to: root.appendingPathComponent("file"))
        XCTAssertThrowsError(try SynthReID.generate(tiny(ids: 4, cameras: 2), out: root.appendingPathComponent("file/set").path)) {
            XCTAssertTrue("\($0)".contains("is a file, not a folder"), "\($0)")
        }
    }

    func testMoreThanSixCamerasWriteCustomLayout() throws {
        for cameras in [7, 9] {
            let o = tiny(ids: 30, cameras: cameras)
            XCTAssertEqual(o.customLayoutReason, "more than 6 cameras")
            try generateAndRead(o, expect: .custom)
        }
        let csv = try String(contentsOfFile: root.appendingPathComponent("set-30-9/gallery.csv").path, encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("path,pid,camid\ngallery/-1_c"), csv)
        XCTAssertTrue(csv.contains(",0,"), "distractors keep pid 0")
    }

    func testIdentitiesAroundMarketCap() throws {
        let market = try generateAndRead(tiny(ids: 1501, cameras: 2), expect: .market1501)
        XCTAssertEqual(market.query.map(\.pid).max(), 1501)
        let o = tiny(ids: 1502, cameras: 2)
        XCTAssertEqual(o.customLayoutReason, "more than 1501 identities")
        let custom = try generateAndRead(o, expect: .custom)
        XCTAssertEqual(custom.query.map(\.pid).max(), 1502)
        XCTAssertEqual(tiny(ids: 9999, cameras: 9).customLayoutReason, "more than 1501 identities and more than 6 cameras")
    }

    func testExistingSetKeptOnlyInTheLayoutWrittenNow() throws {
        let o = tiny(ids: 12, cameras: 7)
        let out = root.appendingPathComponent("kept").path
        let first = try SynthReID.generate(o, out: out)
        var said: [String] = []
        let again = try SynthReID.generate(o, out: out) { said.append($0) }
        XCTAssertEqual(again.train, first.train)
        XCTAssertEqual(said, ["\(out): already holds this SynthReID data set; kept"])
        // A set these options once gave in the Market layout (its manifest has no layout) is refused.
        var old = first
        old.layout = nil
        old.layoutReason = nil
        try JSONEncoder().encode(old).write(to: URL(fileURLWithPath: out + "/manifest.json"))
        XCTAssertThrowsError(try SynthReID.generate(o, out: out)) { e in
            XCTAssertTrue("\(e)".contains("in the market1501 layout, but it is now written in the custom layout "
                                          + "(more than 6 cameras); remove it"), "\(e)")
        }
    }
}
