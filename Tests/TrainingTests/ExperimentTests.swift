// A whole recipe on a tiny SynthReID set: training with an iterative pruning schedule
// reaches the FLOPs target in two rounds, saves the pruned model with its history, and a
// run stopped between the rounds resumes with the pruned architecture and finishes the
// schedule.
import Foundation
import Tensors
import NN
import Pruning
import ReIDData
import Training
import XCTest

final class ExperimentTests: XCTestCase {
    func testIterativePruningScheduleAndResume() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-exp-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let recipe = """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data:
              root: \(dir.path)/data
              synth: {domain: street, ids: 12, cameras: 2, images_per_id: 6, seed: 5, height: 64, width: 32}
              height: 64
              width: 32
              identities: 6
              instances: 2
              workers: 1
            train: {epochs: 3, optimizer: sgd, lr: 0.05, warmup_epochs: 0, schedule: constant, progress: false, checkpoint_every: 1}
            prune: {criterion: l1, scope: all, target_flops: 0.6, steps: 2, start_epoch: 1, every: 1}
            run: {dir: \(dir.path)/run}
            """
        let path = dir.appendingPathComponent("recipe.yaml").path
        try recipe.write(toFile: path, atomically: true, encoding: .utf8)
        var lines: [String] = []
        // Stop after 4 iterations: epoch 1 (3 iterations), round 1, one iteration of epoch 2.
        let first = try ExperimentConfig.parse(try ConfigFile.load(path, overrides: ["train.max_iterations=4"]))
        let cut = try Experiment(config: first, log: { lines.append($0) }).run()
        XCTAssertEqual(lines.filter { $0.hasPrefix("pruning round") }.count, 1, lines.joined(separator: "\n"))
        // Its results say what it trained: one whole epoch, 4 iterations.
        XCTAssertEqual(cut.epochs, 1)
        XCTAssertEqual(cut.iterations, 4)
        lines.removeAll()
        let second = try ExperimentConfig.parse(try ConfigFile.load(path))
        let result = try Experiment(config: second, log: { lines.append($0) }).run()
        XCTAssertTrue(lines.contains { $0.contains("and 1 pruning round(s)") }, lines.joined(separator: "\n"))
        XCTAssertEqual(lines.filter { $0.hasPrefix("pruning round 2") }.count, 1)
        let model = try SafetensorsFile(path: dir.path + "/run/model.safetensors")
        let history = try PrunePlan.history(in: model.metadata)
        XCTAssertEqual(history.count, 2)
        let unpruned = FLOPsCounter.count(.resnet(.resnet18, baseWidth: 4, lastStride: 1), height: 64, width: 32).flops
        XCTAssertLessThanOrEqual(Double(history[1].flopsAfter), 0.6 * Double(unpruned))
        XCTAssertEqual(try PrunePlan.replay(history, from: .resnet(.resnet18, baseWidth: 4, lastStride: 1)),
                       try ModelWeights.loadNet(dir.path + "/run/model.safetensors").architecture)
        XCTAssertEqual(result.gflops, Double(history[1].flopsAfter) / 1e9, accuracy: 1e-9)
        XCTAssertEqual(result.epochs, 3)
        XCTAssertNil(result.iterations)
        XCTAssertTrue(result.synthetic)
    }

    /// A resume compares its recipe with the checkpoint's before writing anything: a
    /// change of architecture or learning rate is refused naming the keys; more epochs
    /// are allowed and recorded.
    func testResumeRefusesAChangedRecipeBeforeWritingAnything() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-exp-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let recipe = """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data:
              root: \(dir.path)/data
              synth: {domain: mall, ids: 8, cameras: 2, images_per_id: 4, seed: 3, height: 64, width: 32}
              height: 64
              width: 32
              identities: 4
              instances: 2
              workers: 1
            train: {epochs: 1, optimizer: sgd, lr: 0.01, warmup_epochs: 0, schedule: constant, progress: false}
            run: {dir: \(dir.path)/run}
            """
        let path = dir.appendingPathComponent("recipe.yaml").path
        try recipe.write(toFile: path, atomically: true, encoding: .utf8)
        let run = dir.path + "/run"
        try Experiment(config: try ExperimentConfig.parse(try ConfigFile.load(path)), log: { _ in }).run()
        let files = ["config.yaml", "checkpoint.safetensors", "metrics.jsonl", "results.json", "model.safetensors"]
        let before = try files.map { try Data(contentsOf: URL(fileURLWithPath: run + "/" + $0)) }
        for (overrides, named) in [(["model.arch=resnet34"], "'model.arch' (resnet18 -> resnet34)"),
                                   (["train.lr=0.02", "data.instances=4"], "'data.instances' (2 -> 4), 'train.lr' (0.01 -> 0.02)")] {
            let changed = try ExperimentConfig.parse(try ConfigFile.load(path, overrides: overrides))
            XCTAssertThrowsError(try Experiment(config: changed, log: { _ in }).run()) { error in
                XCTAssertTrue("\(error)".contains("cannot resume: the recipe changed \(named)"), "\(error)")
            }
            XCTAssertEqual(try files.map { try Data(contentsOf: URL(fileURLWithPath: run + "/" + $0)) }, before,
                           "a refused resume leaves the run folder as it was")
        }
        var lines: [String] = []
        let longer = try ExperimentConfig.parse(try ConfigFile.load(path, overrides: ["train.epochs=2", "eval.flip=true"]))
        try Experiment(config: longer, log: { lines.append($0) }).run()
        XCTAssertTrue(lines.contains("resumed with changed eval.flip (false -> true), train.epochs (1 -> 2)"),
                      lines.joined(separator: "\n"))
        let log = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(log.contains("\"event\":\"resume\""), log)
    }

    func testTrainingTimeCriteriaCutAtTheirEpoch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-exp-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for criterion in ["soft_filter", "auto_balanced"] {
            let recipe = """
                model: {arch: resnet18, base_width: 4, last_stride: 1}
                data:
                  root: \(dir.path)/data
                  synth: {domain: campus, ids: 12, cameras: 2, images_per_id: 6, seed: 6, height: 64, width: 32}
                  height: 64
                  width: 32
                  identities: 6
                  instances: 2
                  workers: 1
                train: {epochs: 3, optimizer: sgd, lr: 0.05, warmup_epochs: 0, schedule: constant, progress: false}
                prune: {criterion: \(criterion), target_flops: 0.6, steps: 1, start_epoch: 2, bn_l1: 0.0001, evaluate: false}
                run: {dir: \(dir.path)/\(criterion)}
                """
            let path = dir.appendingPathComponent("\(criterion).yaml").path
            try recipe.write(toFile: path, atomically: true, encoding: .utf8)
            var lines: [String] = []
            let result = try Experiment(config: try ExperimentConfig.parse(try ConfigFile.load(path)),
                                        log: { lines.append($0) }).run()
            XCTAssertTrue(lines.contains { $0.hasPrefix("pruning round 1 (\(criterion)") }, lines.joined(separator: "\n"))
            let unpruned = FLOPsCounter.count(.resnet(.resnet18, baseWidth: 4, lastStride: 1), height: 64, width: 32).flops
            XCTAssertLessThanOrEqual(result.gflops * 1e9, 0.6 * Double(unpruned) + 1, criterion)
        }
    }
}
