// A scenario whose source is a classification pretraining stage: the source and
// source-pruning stages are classification runs on an image folder, the target stage a
// re-ID run starting from the pruned classification model (widths and pruning history
// carried over, fc dropped, last stride the recipe's); the recipe's errors name keys.
import Distributed
import Foundation
import NN
import Pruning
import ReIDData
import Tensors
@testable import Training
import XCTest

final class ScenarioClassificationSourceTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-scn-cls-\(UUID().uuidString)")
        let codec = ImageCodec()
        for (split, count) in [("train", 4), ("val", 2)] {
            for c in 0..<3 {
                let folder = dir.appendingPathComponent("imgs/\(split)/c\(c)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for i in 0..<count {
                    let (w, h) = (40 + i * 3, 36 + i * 2)
                    let pixels = (0..<(w * h * 3)).map { UInt8(($0 % 3 == c ? 200 : 30) + ($0 / 3 + i * 7) % 40) }
                    try codec.encodeJPEG(RGBImage(width: w, height: h, pixels: pixels), quality: 90)
                        .write(to: folder.appendingPathComponent("\(i).jpg"))
                }
            }
        }
    }

    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func recipe(_ source: String, retrain: Int = 2) throws -> String {
        let d = dir.path
        let path = d + "/scenario-\(UUID().uuidString).yaml"
        try """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data: {height: 64, width: 32, identities: 4, instances: 2, workers: 1}
            train: {optimizer: sgd, lr: 0.05, warmup_epochs: 0, schedule: constant, progress: false}
            prune: {batches: 2}
            scenario:
              source: \(source)
              targets:
                - {root: \(d)/tgt, synth: {domain: mall, ids: 8, cameras: 2, images_per_id: 4, seed: 9, height: 64, width: 32}}
              target_epochs: 1
              retrain_epochs: \(retrain)
              criteria: [l1]
              scenarios: [1]
              target_flops: 0.6
              dir: \(d)/scenario
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let source = "{task: classification, epochs: 1, data: {root: DIR/imgs, batch_size: 6, workers: 1, "
        + "transform: {size: 32, resize: 36}}, train: {lr: 0.1, progress: false}, prune: {steps: 2, every: 1}}"

    func testClassificationSourceStagesTransferToTheReIDTarget() throws {
        let path = try recipe(Self.source.replacingOccurrences(of: "DIR", with: dir.path))
        guard case let .scenario(c) = try Recipe.load(path) else { return XCTFail("not a scenario recipe") }
        XCTAssertEqual(c.classificationSource?.epochs, 1)
        XCTAssertEqual(c.sourceStageConfig("source", epochs: nil, pretrained: nil).task, .classification)
        XCTAssertEqual(c.sourceStageConfig("source", epochs: nil, pretrained: nil).model.lastStride, 2)
        try Scenario(config: c, comm: LocalCommunicator(), log: { _ in }).run()

        let s = dir.path + "/scenario"
        let sourceResults = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s + "/source/results.json")))
        XCTAssertEqual((sourceResults as? [String: Any])?["task"] as? String, "classification")
        let pruned = try ModelWeights.loadNet(s + "/s1-l1-source-prune/model.safetensors")
        XCTAssertEqual(pruned.headConfig, .classification(numClasses: 3))
        let history = try PrunePlan.history(in: try SafetensorsFile(path: s + "/s1-l1-source-prune/model.safetensors").metadata)
        XCTAssertEqual(history.count, 2, "source.prune's two steps")
        let targetFile = try SafetensorsFile(path: s + "/s1-l1-target/model.safetensors")
        let target = try ModelWeights.loadNet(s + "/s1-l1-target/model.safetensors")
        XCTAssertEqual(target.headConfig.task, .reid)
        XCTAssertNil(targetFile.entry("fc.weight"))
        var expected = pruned.architecture
        expected.stages[3].blocks[0].stride = 1
        XCTAssertEqual(target.architecture, expected)
        XCTAssertEqual(try PrunePlan.history(in: targetFile.metadata), history)
        XCTAssertTrue(FileManager.default.fileExists(atPath: s + "/report.md"))
    }

    /// The scenario recipe renders and reads back with its classification source; a
    /// source stage's config.yaml is a plain classification recipe reproducing the stage.
    func testClassificationSourceRoundTrips() throws {
        let path = try recipe(Self.source.replacingOccurrences(of: "DIR", with: dir.path))
        guard case let .scenario(c) = try Recipe.load(path) else { return XCTFail("not a scenario recipe") }
        let again = dir.path + "/again.yaml"
        try RecipeCoder.yaml(of: c).write(toFile: again, atomically: true, encoding: .utf8)
        let d = try ScenarioConfig.parse(try ConfigFile.load(again))
        XCTAssertEqual(d.classificationSource?.data, c.classificationSource?.data)
        XCTAssertEqual(d.classificationSource?.train, c.classificationSource?.train)
        XCTAssertEqual(d.classificationSource?.prune?.steps, 2)
        let stage = c.sourceStageConfig("s1-l1-source-prune", epochs: 2, pretrained: "m.safetensors", prune: (.l1, .flops(0.6)))
        let stagePath = dir.path + "/stage.yaml"
        try stage.yaml.write(toFile: stagePath, atomically: true, encoding: .utf8)
        let read = try ExperimentConfig.parse(try ConfigFile.load(stagePath))
        XCTAssertEqual(read.yaml, stage.yaml)
        XCTAssertEqual(read.task, .classification)
        XCTAssertEqual(read.classificationData, c.classificationSource?.data)
        XCTAssertEqual(read.train.epochs, 2)
        XCTAssertEqual(read.prune?.steps, 2)
        XCTAssertEqual(read.prune?.settings.criterion, .l1)
        XCTAssertEqual(read.model.pretrained, "m.safetensors")
        XCTAssertEqual(read.prune?.settings.ranking.targetFLOPs, 0.6)
        let channels = c.sourceStageConfig("s1-l1-source-prune", epochs: 2, pretrained: "m.safetensors",
                                           prune: (.l1, .channels(0.5)))
        XCTAssertEqual(channels.prune?.stopChannels, 0.5)
        XCTAssertNil(channels.prune?.settings.ranking.targetFLOPs)
        XCTAssertEqual(channels.train.epochs, 2, "source.prune's rounds fall within the stage")
    }

    /// A baseline's source stage is a classification run of its depth, from the file
    /// `baseline_pretrained` names when the source starts from a file (else an error naming the key).
    func testClassificationSourceBaselinesStartLikeTheSource() throws {
        let path = try recipe(Self.source.replacingOccurrences(of: "DIR", with: dir.path))
        guard case var .scenario(c) = try Recipe.load(path) else { return XCTFail("not a scenario recipe") }
        c.baselines = [.resnet34]
        let scratch = try c.baselineSourceConfig(.resnet34)
        XCTAssertEqual(scratch.task, .classification)
        XCTAssertEqual(scratch.model.depth, .resnet34)
        XCTAssertNil(scratch.model.pretrained)
        c.sourcePretrained = "r18.safetensors"
        XCTAssertThrowsError(try c.baselineSourceConfig(.resnet34)) {
            XCTAssertTrue("\($0)".contains("scenario.baseline_pretrained.resnet34"), "\($0)")
        }
        c.baselinePretrained[.resnet34] = "r34.safetensors"
        XCTAssertEqual(try c.baselineSourceConfig(.resnet34).model.pretrained, "r34.safetensors")
    }

    func testClassificationSourceErrorsNameTheirKeys() throws {
        for (source, key) in [
            ("{task: classification, epochs: 1}", "scenario.source.data.root"),
            ("{task: classification, data: {root: x}, epochs: 0}", "scenario.source.epochs"),
            ("{task: classification, data: {root: x}, train: {loss: {triplet: 1}}}", "scenario.source.train.loss.triplet"),
            ("{task: classification, data: {root: x}, prune: {steps: 4, every: 1}}", "scenario.source.prune"),
            ("{task: segmentation, root: x}", "scenario.source.task"),
        ] {
            XCTAssertThrowsError(try Recipe.load(try recipe(source)), source) { XCTAssertTrue("\($0)".contains(key), "\($0)") }
        }
    }
}
