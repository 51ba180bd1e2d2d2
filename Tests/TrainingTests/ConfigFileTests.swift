// Recipes: base chains and overrides merge as documented; a malformed file, an unknown
// key, a value of the wrong type or range each fail naming the file and the key.
import Foundation
import Training
import XCTest

final class ConfigFileTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testBaseChainAndOverrides() throws {
        _ = try write("base.yaml", "model: {arch: resnet18}\ndata: {root: d, height: 64, width: 32}\ntrain: {epochs: 7, lr: 0.01}\n")
        let child = try write("child.yaml", "base: base.yaml\ntrain: {epochs: 9}\n")
        let c = try ExperimentConfig.parse(try ConfigFile.load(child, overrides: ["train.lr=0.5", "run.dir=runs/x"]))
        XCTAssertEqual(c.model.archName, "resnet18")
        XCTAssertEqual(c.train.epochs, 9, "the child overrides its base")
        XCTAssertEqual(c.train.schedule.base, 0.5, "the command line overrides both")
        XCTAssertEqual(c.runDirectory, "runs/x")
        XCTAssertEqual(c.data.augment.height, 64)
    }

    func testErrorsNameTheFileAndTheKey() throws {
        let bad = try write("bad.yaml", "model: {arch: resnet18\n")
        XCTAssertThrowsError(try ConfigFile.load(bad)) { XCTAssertTrue("\($0)".contains("bad.yaml: malformed YAML"), "\($0)") }
        let typo = try write("typo.yaml", "data: {root: d}\ntrain: {epochz: 3}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(typo))) {
            XCTAssertTrue("\($0)".contains("typo.yaml: unknown key 'train.epochz'"), "\($0)")
        }
        let type = try write("type.yaml", "data: {root: d}\ntrain: {epochs: many}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(type))) {
            XCTAssertTrue("\($0)".contains("key 'train.epochs': expected an integer"), "\($0)")
        }
        let arch = try write("arch.yaml", "data: {root: d}\nmodel: {arch: vgg16}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(arch))) {
            XCTAssertTrue("\($0)".contains("key 'model.arch': 'vgg16' is not one of"), "\($0)")
        }
        let range = try write("range.yaml", "data: {root: d}\nprune: {target_flops: 1.5}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(range))) {
            XCTAssertTrue("\($0)".contains("key 'prune.target_flops'"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigFile.load(dir.appendingPathComponent("missing.yaml").path)) {
            XCTAssertTrue("\($0)".contains("missing.yaml: cannot read"), "\($0)")
        }
        let cycle = try write("cycle.yaml", "base: cycle.yaml\n")
        XCTAssertThrowsError(try ConfigFile.load(cycle)) { XCTAssertTrue("\($0)".contains("cycle"), "\($0)") }
        XCTAssertThrowsError(try ConfigFile.load(typo, overrides: ["train.epochs"])) {
            XCTAssertTrue("\($0)".contains("expected key=value"), "\($0)")
        }
    }
}
