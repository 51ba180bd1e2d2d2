// Recipes: base chains and overrides merge as documented; a malformed file, an unknown
// key, a value of the wrong type or range each fail naming the file and the key. A
// typed config's YAML reads back as the same config, for the recipes in configs/.
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

    func testTrainingRecipeWithoutDataRootFailsNamingIt() throws {
        let path = try write("train.yaml", "model: {arch: resnet18}\ntrain: {epochs: 2}\n")
        XCTAssertThrowsError(try Recipe.load(path)) {
            XCTAssertTrue("\($0)".contains("train.yaml: key 'data.root': missing"), "\($0)")
        }
        guard case let .training(c) = try Recipe.load(path, overrides: ["data.root=d"]) else {
            return XCTFail("a recipe without scenario: is a training run")
        }
        XCTAssertEqual(c.train.epochs, 2)
    }

    /// The fields of a run that its saved recipe must reproduce.
    func assertSameRun(_ a: ExperimentConfig, _ b: ExperimentConfig, _ what: String) {
        XCTAssertEqual(a.model, b.model, what)
        XCTAssertEqual(a.train, b.train, what)
        XCTAssertEqual(a.eval, b.eval, what)
        XCTAssertEqual(a.runDirectory, b.runDirectory, what)
        XCTAssertEqual(a.seed, b.seed, what)
        XCTAssertEqual(a.data.root, b.data.root, what)
        XCTAssertEqual(a.data.kind, b.data.kind, what)
        XCTAssertEqual(a.data.synth, b.data.synth, what)
        XCTAssertEqual(a.data.augment, b.data.augment, what)
        XCTAssertEqual([a.data.identities, a.data.instances, a.data.batchSize, a.data.loader.workers],
                       [b.data.identities, b.data.instances, b.data.batchSize, b.data.loader.workers], what)
        XCTAssertEqual(a.data.loader.seed, b.data.loader.seed, what)
        XCTAssertEqual(a.prune == nil, b.prune == nil, what)
        if let p = a.prune, let q = b.prune {
            XCTAssertEqual(p.settings.criterion, q.settings.criterion, what)
            XCTAssertEqual(p.settings.ranking.targetFLOPs, q.settings.ranking.targetFLOPs, what)
            XCTAssertEqual(p.settings.ranking.normalizer, q.settings.ranking.normalizer, what)
            XCTAssertEqual([p.settings.ranking.height, p.settings.ranking.width, p.settings.batches, p.steps, p.startEpoch],
                           [q.settings.ranking.height, q.settings.ranking.width, q.settings.batches, q.steps, q.startEpoch], what)
            XCTAssertEqual(p.settings.seed, q.settings.seed, what)
        }
        XCTAssertEqual(a.yaml, b.yaml, what)
    }

    /// The recipes in configs/ load, and a training recipe's YAML reads back as itself.
    func testShippedRecipesLoadAndRoundTrip() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs")
            .standardized
        let files = FileManager.default.enumerator(atPath: configs.path)!.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThan(files.count, 4)
        for name in files {
            switch try Recipe.load(configs.appendingPathComponent(name).path) {
            case let .training(c):
                let again = try ExperimentConfig.parse(try ConfigFile.load(try write("again.yaml", c.yaml)))
                assertSameRun(again, c, name)
            case let .scenario(s):
                XCTAssertTrue(name.hasPrefix("scenarios/"), name)
                XCTAssertFalse(s.targets.isEmpty)
            }
        }
    }
}
