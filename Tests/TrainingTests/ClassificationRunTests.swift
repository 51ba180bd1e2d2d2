// Classification runs in the training session, on in-memory data: results.json with
// task/top1/top5 and a torchvision-named model; pruning rounds during classification
// (a gradient criterion scored with the classification loss) and the history they leave;
// transfer of that pruned model to a re-ID network (backbone equal, fc dropped, history
// carried); top-1/top-5 and training on 2 ranks (in-process, SyncBN) equal to 1 rank;
// the recipe's classification defaults, learning-rate scaling and errors.
import Distributed
import Foundation
import NN
import Optim
import Pruning
import ReIDData
import ReIDEval
import Tensors
import TestSupport
@testable import Training
import XCTest

final class ClassificationRunTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-cls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    static let classes = 4, side = 32

    /// `count` images (N, 32, 32, 3) whose class shows as a brighter channel and quadrant.
    static func images(_ count: Int, seed: UInt64, first: Int = 0) -> Batch {
        var rng = SeededRandom(seed: seed, keys: first)
        let t = rng.tensor([count, side, side, 3], .nhwc, -0.5, 0.5)
        let labels = (0..<count).map { (first + $0) % classes }
        for (i, y) in labels.enumerated() {
            for r in 0..<(side / 2) {
                for c in 0..<(side / 2) {
                    let row = r + (y / 2) * side / 2, col = c + (y % 2) * side / 2
                    t[((i * side + row) * side + col) * 3 + y % 3] += 1.5
                }
            }
        }
        return Batch(images: t, pids: labels, camids: labels.map { _ in 0 })
    }

    static func slice(_ b: Batch, rank: Int, world: Int) -> Batch {
        let lo = b.count * rank / world, hi = b.count * (rank + 1) / world, size = side * side * 3
        let t = Tensor(shape: [hi - lo, side, side, 3], layout: .nhwc)
        t.data.update(from: b.images.data + lo * size, count: (hi - lo) * size)
        return Batch(images: t, pids: Array(b.pids[lo..<hi]), camids: Array(b.camids[lo..<hi]))
    }

    /// Validation: 10 images; this rank's contiguous slice in batches of 3.
    static func validation(rank: Int, world: Int) -> () throws -> ValidationSlice {
        {
            let mine = slice(images(10, seed: 99), rank: rank, world: world)
            return ValidationSlice(total: 10) { body in
                var at = 0
                while at < mine.count {
                    let hi = min(at + 3, mine.count), size = side * side * 3
                    let t = Tensor(shape: [hi - at, side, side, 3], layout: .nhwc)
                    t.data.update(from: mine.images.data + at * size, count: (hi - at) * size)
                    try body(Batch(images: t, pids: Array(mine.pids[at..<hi]), camids: Array(mine.camids[at..<hi])))
                    at = hi
                }
            }
        }
    }

    /// 3 steps per epoch of a global batch of 8.
    static func data(rank: Int = 0, world: Int = 1, rankCountChange: Bool = true) -> ClassificationRunData {
        let batches = (0..<3).map { slice(images(8, seed: 5, first: 8 * $0), rank: rank, world: world) }
        return ClassificationRunData(name: "memory", synthetic: true, classNames: ["a", "b", "c", "d"],
                                     source: FixedBatchSource(batches: batches, numClasses: classes), globalBatch: 8,
                                     imageSize: side, trainImages: 24, allowsRankCountChange: rankCountChange,
                                     validation: validation(rank: rank, world: world))
    }

    func recipe(_ extra: String = "", dir: String, model: String = "arch: resnet18, base_width: 4",
                train: String = "", epochs: Int = 2) throws -> ExperimentConfig {
        let path = tmp.appendingPathComponent("recipe-\(UUID().uuidString).yaml").path
        try """
            task: classification
            model: {\(model)}
            data: {root: memory}
            train: {epochs: \(epochs), lr: 0.4, lr_reference_batch: 256, warmup_epochs: 1, schedule: cosine, progress: false, log_every: 1\(train)}
            run: {dir: \(dir)}
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return try ExperimentConfig.parse(try ConfigFile.load(path))
    }

    func testClassificationRunWritesTopKResultsAndATorchvisionModel() throws {
        let dir = tmp.appendingPathComponent("run").path
        let c = try recipe(dir: dir)
        var lines: [String] = []
        let result = try Experiment(config: c, log: { lines.append($0) }).runClassification { Self.data() }
        XCTAssertEqual(result.task, "classification")
        XCTAssertTrue((0...1).contains(result.top1) && result.top5 >= result.top1 && result.top5 <= 1)
        XCTAssertEqual(result.images, 10)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/results.json"))) as! [String: Any]
        XCTAssertEqual(json["task"] as? String, "classification")
        XCTAssertNotNil(json["top1"] as? Double)
        XCTAssertNotNil(json["top5"] as? Double)
        XCTAssertEqual(json["synthetic"] as? Bool, true)
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        XCTAssertEqual(file.entry("fc.weight")?.shape, [4, 32])
        XCTAssertEqual(file.entry("fc.bias")?.shape, [4])
        XCTAssertEqual(try ModelWeights.loadNet(dir + "/model.safetensors").headConfig, .classification(numClasses: 4))
        // lr 0.4 per 256 images at a global batch of 8.
        XCTAssertTrue(lines.contains { $0.contains("lr 0.0125 (0.4 x 8 / 256)") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.hasPrefix("final [synthetic data]: top-1") })
        let logged = try TrainingCurves.Run(name: "run", directory: dir).rows
        XCTAssertTrue(logged.contains { $0["event"] as? String == "eval" && $0["top5"] != nil })
        XCTAssertEqual(logged.filter { $0["event"] as? String == "train" }.count, 6)
        let page = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertTrue(page.contains("Results (classification)") && page.contains("top-1 / top-5"), "report.html")
        XCTAssertThrowsError(try Experiment(config: c, log: { _ in }).run()) { XCTAssertTrue("\($0)".contains("task")) }

        // `report` reads a classification run beside a re-ID one.
        let reidDir = tmp.appendingPathComponent("reid").path
        try FileManager.default.createDirectory(atPath: reidDir, withIntermediateDirectories: true)
        try ModelWeights.save(try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true)),
                              to: reidDir + "/model.safetensors")
        let reidResult = RunResult(dataset: "synthreid", synthetic: true, arch: "resnet18", params: 1, gflops: 0.01, epochs: 1,
                                   rank1: 0.5, rank5: 0.6, rank10: 0.7, rank20: 0.8, mAP: 0.25, mINP: 0.1, numValidQueries: 4,
                                   trainSeconds: 1)
        try JSONEncoder().encode(reidResult).write(to: URL(fileURLWithPath: reidDir + "/results.json"))
        let rows = try Report.rows(runs: [("cls", dir), ("reid", reidDir)], height: 64, width: 32, threads: 1)
        XCTAssertEqual(rows.map(\.task), ["classification", "reid"])
        XCTAssertEqual(rows[0].top1, result.top1)
        XCTAssertEqual(rows[0].imageSize, 32)
        XCTAssertNil(rows[0].rank1)
        XCTAssertEqual(rows[1].mAP, 0.25)
        let table = Report.markdown(rows)
        XCTAssertTrue(table.contains("| rank-1 | mAP | top-1 | top-5 | input |"), table)
        XCTAssertTrue(table.contains("| 50.0% | 25.0% | – | – | – |"), table)
    }

    /// Two Taylor rounds (gradients of the classification loss) during a classification
    /// run, then the pruned model as the backbone of a re-ID network.
    func testPruningDuringClassificationAndTransferToReID() throws {
        let dir = tmp.appendingPathComponent("pruned").path
        let c = try recipe("prune: {criterion: taylor, steps: 2, every: 1, target_flops: 0.7, batches: 2, evaluate: true}", dir: dir)
        var lines: [String] = []
        let result = try Experiment(config: c, log: { lines.append($0) }).runClassification { Self.data() }
        XCTAssertEqual(result.pruningRounds, 2)
        XCTAssertTrue(lines.contains { $0.hasPrefix("before pruning round 1 [synthetic data]: top-1") })
        let path = dir + "/model.safetensors"
        let pruned = try ModelWeights.loadNet(path)
        let history = try PrunePlan.history(in: try SafetensorsFile(path: path).metadata)
        XCTAssertEqual(history.count, 2)
        XCTAssertEqual(history.last!.after, pruned.architecture)
        XCTAssertEqual(history[0].head.task, .classification)
        XCTAssertLessThan(FLOPsCounter.count(pruned.architecture, height: 32, width: 32).flops,
                          FLOPsCounter.count(.resnet(.resnet18, baseWidth: 4), height: 32, width: 32).flops)

        // Transfer: a re-ID recipe (last stride 1) starting from the pruned classification model.
        var reid = ModelConfig()
        reid.depth = .resnet18
        reid.baseWidth = 4
        reid.pretrained = path
        let net = try Experiment.buildNet(reid, numClasses: 6, seed: 3)
        var expectedArch = pruned.architecture
        expectedArch.stages[3].blocks[0].stride = 1
        XCTAssertEqual(net.architecture, expectedArch)
        XCTAssertEqual(net.headConfig, HeadConfig(bnneck: true, numClasses: 6))
        XCTAssertNil(net.store.lookup("fc.weight"))
        XCTAssertNil(net.store.lookup("fc.bias"))
        for (i, slot) in pruned.store.parameterSlots.enumerated() where !slot.name.hasPrefix("fc.") {
            let mine = net.store.parameter(net.store.lookup(slot.name)!.index).toArray()
            XCTAssertEqual(mine, pruned.store.parameter(i).toArray(), slot.name)
        }
        for (i, slot) in pruned.store.bufferSlots.enumerated() {
            XCTAssertEqual(net.store.buffer(net.store.lookup(slot.name)!.index).toArray(), pruned.store.buffer(i).toArray(), slot.name)
        }
        XCTAssertEqual(try Experiment.pretrainedHistory(reid), history)
        XCTAssertEqual(try Experiment.startArchitecture(reid), expectedArch)

        // A re-ID session started from it carries the history on.
        var reidConfig = ExperimentConfig()
        reidConfig.model = reid
        let batch = Self.images(8, seed: 1)
        let trainer = try Trainer(net: net, source: FixedBatchSource(batches: [batch], numClasses: 6), config: TrainerConfig(),
                                  runDirectory: nil)
        try Experiment(config: reidConfig, log: { _ in }).startOrResume(trainer, checkpoint: nil, changes: [])
        XCTAssertEqual(trainer.state.fullHistory, history)
        XCTAssertTrue(trainer.state.pruningHistory.isEmpty)
    }

    /// A torchvision/timm file (no reidprune metadata) in a classification recipe loads
    /// with its `fc` when the classes agree, else its backbone alone.
    func testTorchvisionFileLoadsWithItsFCWhenTheClassesAgree() throws {
        let source = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: .classification(numClasses: 4), seed: 5)
        var writer = try SafetensorsWriter.forNet(source)
        writer.metadata = ["format": "pt"]
        let path = tmp.appendingPathComponent("torchvision.safetensors").path
        try writer.write(to: path)
        var m = try recipe(dir: tmp.path + "/tv").model
        m.pretrained = path
        func fc(_ net: ReIDNet) -> [Float] { net.store.parameter(net.store.lookup("fc.weight")!.index).toArray() }
        func conv(_ net: ReIDNet) -> [Float] { net.store.parameter(net.store.lookup("layer4.1.conv2.weight")!.index).toArray() }
        let same = try Experiment.buildNet(m, numClasses: 4, seed: 9)
        XCTAssertEqual(fc(same), fc(source))
        XCTAssertEqual(conv(same), conv(source))
        let other = try Experiment.buildNet(m, numClasses: 5, seed: 9)
        XCTAssertEqual(conv(other), conv(source))
        XCTAssertEqual(fc(other).count, 5 * 32)
    }

    /// Every criterion (weight, data, gradient and training-time ones) prunes a
    /// classification run to about its target, and the model file records the round.
    func testEveryCriterionPrunesAClassificationRun() throws {
        let unpruned = FLOPsCounter.count(.resnet(.resnet18, baseWidth: 4), height: 32, width: 32).flops
        for kind in CriterionKind.allCases {
            let dir = tmp.appendingPathComponent("crit-\(kind.rawValue)").path
            let c = try recipe("prune: {criterion: \(kind.rawValue), target_flops: 0.6, batches: 2, evaluate: false, "
                               + "start_epoch: \(kind.trainsBeforeCut ? 1 : 0)}", dir: dir, epochs: kind.trainsBeforeCut ? 2 : 1)
            let result = try Experiment(config: c, log: { _ in }).runClassification { Self.data() }
            XCTAssertEqual(result.pruningRounds, 1, kind.rawValue)
            let net = try ModelWeights.loadNet(dir + "/model.safetensors")
            let flops = FLOPsCounter.count(net.architecture, height: 32, width: 32).flops
            XCTAssertLessThanOrEqual(Double(flops), 0.65 * Double(unpruned), kind.rawValue)
            XCTAssertEqual(net.headConfig.task, .classification, kind.rawValue)
        }
    }

    /// Data whose batches depend on the rank count (shard streams) refuses a resume on
    /// another count, on every rank; the same count resumes.
    func testResumeOnAnotherRankCountIsRefusedWhenTheDataForbidsIt() throws {
        let dir = tmp.appendingPathComponent("resume").path
        let c = try recipe(dir: dir, train: ", max_iterations: 2")
        _ = try Experiment(config: c, log: { _ in }).runClassification { Self.data(rankCountChange: false) }
        XCTAssertEqual(try Checkpoint.state(at: dir + "/checkpoint.safetensors").ranks, 1)
        let lock = NSLock()
        nonisolated(unsafe) var errors: [String] = []
        try? ThreadWorld(size: 2).run { rank, comm in
            do {
                _ = try Experiment(config: c, comm: comm, log: { _ in })
                    .runClassification { Self.data(rank: rank, world: 2, rankCountChange: false) }
            } catch {
                lock.lock()
                errors.append("\(error)")
                lock.unlock()
            }
        }
        XCTAssertEqual(errors.count, 2)
        XCTAssertTrue(errors.allSatisfy { $0.contains("the rank count changed (1 -> 2)") }, "\(errors)")
        var longer = c
        longer.train.maxIterations = 3
        XCTAssertNoThrow(try Experiment(config: longer, log: { _ in }).runClassification { Self.data(rankCountChange: false) })
    }

    func testTopKOnTwoRanksEqualsOneRankAndAFailingRankIsNamed() throws {
        let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: .classification(numClasses: 4), seed: 2)
        let one = try ClassificationEvaluator(comm: LocalCommunicator(), slice: Self.validation(rank: 0, world: 1)).evaluate(net)
        for world in [2, 3] {
            let lock = NSLock()
            nonisolated(unsafe) var got: [TopKCounts] = []
            try ThreadWorld(size: world).run { rank, comm in
                let replica = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: .classification(numClasses: 4), seed: 2)
                let m = try ClassificationEvaluator(comm: comm, slice: Self.validation(rank: rank, world: world)).evaluate(replica)
                lock.lock()
                got.append(m.counts)
                lock.unlock()
            }
            XCTAssertEqual(got, Array(repeating: one.counts, count: world), "\(world) ranks")
        }
        let lock = NSLock()
        nonisolated(unsafe) var errors: [String] = []
        try? ThreadWorld(size: 2).run { rank, comm in
            let replica = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: .classification(numClasses: 4), seed: 2)
            let slice: () throws -> ValidationSlice = rank == 1 ? { throw DatasetError("val/n01/x.JPEG: unreadable") }
                : Self.validation(rank: 0, world: 2)
            do { _ = try ClassificationEvaluator(comm: comm, slice: slice).evaluate(replica) } catch {
                lock.lock()
                errors.append("\(error)")
                lock.unlock()
            }
        }
        XCTAssertEqual(errors.count, 2)
        XCTAssertTrue(errors.allSatisfy { $0.contains("rank 1: val/n01/x.JPEG: unreadable") }, "\(errors)")
    }

    /// Parameters and buffers after 3 classification steps on `world` ranks with SyncBN.
    static func trainClassifier(world: Int, steps: Int, lr: Double) throws -> [Float] {
        let lock = NSLock()
        nonisolated(unsafe) var out: [Float] = []
        try ThreadWorld(size: world).run { rank, comm in
            let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: .classification(numClasses: 4),
                                  seed: 7 + UInt64(rank))
            var c = TrainerConfig.classification
            c.schedule = LRSchedule(base: lr)
            c.nesterov = true
            c.decayNormAndBias = false
            c.progress = false
            c.distributed.syncBN = true
            c.distributed.checksumEvery = 1
            let source = data(rank: rank, world: world).source
            let trainer = try Trainer(net: net, source: source, config: c, runDirectory: nil, comm: comm)
            source.startEpoch(0)
            for _ in 0..<steps { try trainer.step(try source.next()) }
            if rank == 0 {
                let s = net.store
                lock.lock()
                out = Array(UnsafeBufferPointer(start: s.parameters, count: s.parameterCapacity))
                    + Array(UnsafeBufferPointer(start: s.buffers, count: s.bufferCapacity))
                lock.unlock()
            }
        }
        return out
    }

    func testClassificationTrainingOnTwoRanksWithSyncBNMatchesOneRank() throws {
        // At lr 0.05 rounding differences between rank counts (1e-6 after one step) grow
        // to 3e-5 in three (as DataParallelTests describes); at 0.01 they stay near 1e-6.
        let one = try Self.trainClassifier(world: 1, steps: 3, lr: 0.01)
        let two = try Self.trainClassifier(world: 2, steps: 3, lr: 0.01)
        XCTAssertLessThanOrEqual(relativeError(two, one), 1e-5)
        XCTAssertGreaterThan(relativeError(one, try Self.trainClassifier(world: 1, steps: 2, lr: 0.01)), 1e-3)
    }

    /// `reidprune prune` of a classification model: a gradient criterion scores with the
    /// classification loss on the recipe's (here generated, synthetic) data set.
    func testPruneFileOfAClassificationModel() throws {
        var c = try recipe("prune: {criterion: taylor, target_flops: 0.6, batches: 2}", dir: tmp.path + "/unused")
        c.classificationData.root = tmp.appendingPathComponent("synthcls").path
        var synth = SynthClassificationOptions()
        (synth.classes, synth.imagesPerClass, synth.valPerClass) = (3, 4, 1)
        c.classificationData.synth = synth
        c.classificationData.batchSize = 6
        c.classificationData.workers = 1
        c.classificationData.transform.size = 32
        c.classificationData.transform.resize = 36
        c.deriveDependentValues()
        let weights = tmp.appendingPathComponent("cls.safetensors").path, out = tmp.appendingPathComponent("cut.safetensors").path
        try ModelWeights.save(try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4, lastStride: 2),
                                          head: .classification(numClasses: 3), seed: 4), to: weights)
        let line = try PruneFile.run(config: c, weights: weights, out: out, planPath: nil, comm: LocalCommunicator(),
                                     log: { _ in })
        XCTAssertTrue(line.hasPrefix("pruned with taylor"), line)
        let cut = try ModelWeights.loadNet(out)
        XCTAssertEqual(cut.headConfig, .classification(numClasses: 3))
        XCTAssertEqual(try PrunePlan.history(in: try SafetensorsFile(path: out).metadata).count, 1)
        XCTAssertLessThan(FLOPsCounter.count(cut.architecture, height: 32, width: 32).flops,
                          FLOPsCounter.count(.resnet(.resnet18, baseWidth: 4), height: 32, width: 32).flops)
        // A model of another class count is refused, naming both counts.
        try ModelWeights.save(try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: .classification(numClasses: 5)),
                              to: weights)
        XCTAssertThrowsError(try PruneFile.run(config: c, weights: weights, out: out, planPath: nil, comm: LocalCommunicator(),
                                               log: { _ in })) { XCTAssertTrue("\($0)".contains("5 classes"), "\($0)") }
    }

    func testMissingDataRootIsNamed() throws {
        let missing = tmp.appendingPathComponent("no-such-data").path
        var c = try recipe(dir: tmp.appendingPathComponent("missing-run").path)
        c.classificationData.root = missing
        XCTAssertThrowsError(try Experiment(config: c, log: { _ in }).runClassification()) {
            XCTAssertTrue("\($0)".contains(missing), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.runDirectory + "/results.json"))
    }

    /// A recipe with a synthetic set, pointed at shards (here a brace pattern that names
    /// none), reads the shards as they are: nothing is generated into the pattern's name.
    func testSynthRecipeOnAShardPatternGeneratesNothing() throws {
        let pattern = tmp.appendingPathComponent("shards/train-{000000..000001}.tar").path
        var c = try recipe(dir: tmp.appendingPathComponent("pattern-run").path)
        c.classificationData.root = pattern
        var synth = SynthClassificationOptions()
        (synth.classes, synth.imagesPerClass, synth.valPerClass) = (2, 2, 1)
        c.classificationData.synth = synth
        XCTAssertThrowsError(try Experiment(config: c, log: { _ in }).runClassification()) {
            XCTAssertTrue("\($0)".contains("shards/classes.json: cannot read"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: pattern), "a set was generated into the pattern's name")
    }

    func testClassificationDefaultsScalingAndErrors() throws {
        let c = try recipe(dir: tmp.path + "/x")
        XCTAssertEqual(c.task, .classification)
        XCTAssertEqual(c.model.head, .classification(numClasses: 0))
        XCTAssertEqual(c.model.lastStride, 2)
        XCTAssertEqual(c.train.optimizer, .sgd)
        XCTAssertEqual(c.train.tripletWeight, 0)
        XCTAssertEqual(c.train.labelSmoothing, 0.1)
        XCTAssertEqual(c.train.scaled(forGlobalBatch: 512).schedule.base, 0.8, accuracy: 1e-12)
        // The rendered recipe reads back to the same configuration.
        let path = tmp.appendingPathComponent("again.yaml").path
        try c.yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let again = try ExperimentConfig.parse(try ConfigFile.load(path))
        XCTAssertEqual(again.yaml, c.yaml)
        XCTAssertEqual(again.train, c.train)
        for (model, train, key) in [("arch: resnet18, bnneck: true", "", "bnneck"), ("arch: resnet18", ", loss: {triplet: 1}", "train.loss.triplet"),
                                    ("arch: resnet18, embedding_dim: 128", "", "embedding_dim"),
                                    ("arch: resnet18", ", lr_reference_batch: -1", "lr_reference_batch")] {
            XCTAssertThrowsError(try recipe(dir: tmp.path + "/y", model: model, train: train), key) {
                XCTAssertTrue("\($0)".contains(key), "\($0)")
            }
        }
        // The shipped ImageNet recipe is torchvision's reference.
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../configs/pretrain/imagenet_resnet50.yaml").standardized.path
        let r = try ExperimentConfig.parse(try ConfigFile.load(shipped))
        XCTAssertEqual(r.task, .classification)
        XCTAssertEqual(r.model.architecture, .resnet(.resnet50))
        XCTAssertEqual(r.train.epochs, 90)
        XCTAssertEqual(r.classificationData.batchSize, 256)
        XCTAssertEqual(r.classificationData.transform.size, 224)
        XCTAssertEqual(r.train.optimizer, .sgd)
        XCTAssertEqual(r.train.scaled(forGlobalBatch: 256).schedule.base, 0.1)
        XCTAssertEqual(r.train.schedule.decay, .multiStep(milestones: [30, 60], gamma: 0.1))
        let bad = tmp.appendingPathComponent("bad.yaml").path
        try "task: detection\ndata: {root: x}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(bad))) { XCTAssertTrue("\($0)".contains("task"), "\($0)") }
    }
}
