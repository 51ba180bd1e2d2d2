// A recipe's data.synth section beyond Market-1501's ranges: the set is generated in the
// custom layout and read back by detection; naming another layout in data.kind is an
// error that says which layout the set is written in.
import Foundation
import ReIDData
import Training
import XCTest

final class SynthRecipeTests: XCTestCase {
    func testSynthSectionBeyondMarketRanges() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-synthrecipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.yaml").path
        func recipe(kind: String) throws -> ExperimentConfig {
            try """
                model: {arch: resnet18}
                data:
                  root: \(dir.path)/data
                  kind: \(kind)
                  synth: {domain: night, ids: 10, cameras: 8, images_per_id: 4, height: 32, width: 16}
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return try ExperimentConfig.parse(try ConfigFile.load(path))
        }
        XCTAssertThrowsError(try recipe(kind: "market1501")) { e in
            XCTAssertTrue("\(e)".contains("data.kind"), "\(e)")
            XCTAssertTrue("\(e)".contains("written in the custom layout (more than 6 cameras)"), "\(e)")
        }
        XCTAssertNotNil(try recipe(kind: "custom").data.kind)
        let c = try recipe(kind: "auto")
        var lines: [String] = []
        let (dataset, synthetic) = try Experiment(config: c, log: { lines.append($0) }).prepareData()
        XCTAssertTrue(synthetic)
        XCTAssertEqual(dataset.name, "synthreid-night")
        XCTAssertTrue(lines.contains { $0.contains("custom layout: more than 6 cameras") }, lines.joined(separator: "\n"))
        XCTAssertEqual(try DatasetReader.detect(dir.path + "/data"), .custom)
        XCTAssertEqual(Set(dataset.query.map(\.pid)), Set(6...10))
        XCTAssertEqual(dataset.query.map(\.camid).max().map { $0 < 8 }, true)
    }
}
