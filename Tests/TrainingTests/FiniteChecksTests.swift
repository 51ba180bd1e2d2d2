// Finite checks of a training session: a diverging run (huge learning rate) stops with
// one line naming the step, the loss and the learning rate, writes no checkpoint or
// model of the diverged state and leaves the last good checkpoint byte for byte, on one
// rank, on two ranks together and through the executable's exit status; a non-finite
// step under `on_nonfinite: skip` leaves no trace and is counted; checkpoints and
// pretrained files holding NaN are refused naming the tensor.
import Distributed
import Foundation
import NN
import Optim
import ReIDData
import Tensors
import TestSupport
@testable import Training
import XCTest

final class FiniteChecksTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-finite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    static func config(lr: Double, optimizer: TrainerConfig.OptimizerKind = .sgd) -> TrainerConfig {
        var c = TrainerConfig()
        c.optimizer = optimizer
        c.schedule = LRSchedule(base: lr)
        c.progress = false
        return c
    }

    static func values(_ store: ParameterStore) -> [Float] {
        Array(UnsafeBufferPointer(start: store.parameters, count: store.parameterCapacity))
            + Array(UnsafeBufferPointer(start: store.buffers, count: store.bufferCapacity))
    }

    func metrics(_ dir: String) throws -> [String] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func testDivergentRunStopsNamingTheStepAndKeepsTheLastGoodCheckpoint() throws {
        let batches = (0..<3).map { TrainerTests.randomBatch(seed: 30 + UInt64($0)) }
        var config = Self.config(lr: 0.01)
        config.epochs = 1
        config.checkpointEvery = 1
        let dir = tmp.appendingPathComponent("run").path
        let checkpoint = dir + "/checkpoint.safetensors"
        try Trainer(net: try TrainerTests.tinyNet(), source: FixedBatchSource(batches: batches, numClasses: 4), config: config,
                    runDirectory: dir).train()
        let good = try Data(contentsOf: URL(fileURLWithPath: checkpoint))

        config.epochs = 3
        config.schedule = LRSchedule(base: 1e6)
        let diverging = try Trainer(net: try TrainerTests.tinyNet(seed: 8), source: FixedBatchSource(batches: batches, numClasses: 4),
                                    config: config, runDirectory: dir)
        try diverging.resume(from: checkpoint)
        XCTAssertNotNil(diverging.state.firstEpochMeanLoss, "the bound's reference comes with the checkpoint")
        XCTAssertThrowsError(try diverging.train()) { error in
            XCTAssertTrue(error is TrainingDiverged, "\(type(of: error)): \(error)")
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("training stopped at epoch 2, iteration "), text)
            XCTAssertTrue(text.contains("at learning rate 1e+06"), text)
            XCTAssertTrue(text.contains("exceeds") || text.contains("non-finite"), text)
            XCTAssertFalse(text.contains("\n"), "one line")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), good, "the good checkpoint stays")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/model.safetensors"))
        XCTAssertTrue(try metrics(dir).last!.contains("\"event\":\"stopped\""))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("tmp") }, [])
    }

    func testNonFiniteStepIsSkippedWithoutTraceAndCounted() throws {
        let good = (0..<2).map { TrainerTests.randomBatch(seed: 40 + UInt64($0)) }
        let bad = TrainerTests.randomBatch(seed: 50)
        bad.images[17] = .nan
        var config = Self.config(lr: 1e-3, optimizer: .adam)
        config.epochs = 1
        config.centerWeight = 0.01
        config.logEvery = 1

        // The default stops on it, leaving the session as before the step.
        let stopping = try Trainer(net: try TrainerTests.tinyNet(), source: FixedBatchSource(batches: good, numClasses: 4),
                                   config: config, runDirectory: nil)
        try stopping.step(good[0])
        let before = Self.values(stopping.net.store)
        // One NaN pixel: ReLUs keep NaN out of the features (the loss is finite), not out of conv1's gradient.
        XCTAssertThrowsError(try stopping.step(bad)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("training stopped at epoch 1, iteration 2: non-finite gradients (norm NaN, loss "), text)
            XCTAssertTrue(text.hasSuffix("(train.on_nonfinite: skip skips such steps)"), text)
        }
        XCTAssertEqual(Self.values(stopping.net.store), before, "parameters and BN statistics as before the step")
        XCTAssertEqual(stopping.state.iteration, 1)

        // Skipping: the run goes on exactly as if the batch had not been there.
        config.onNonFinite = .skip
        let dir = tmp.appendingPathComponent("skip").path
        let skipping = try Trainer(net: try TrainerTests.tinyNet(), source: FixedBatchSource(batches: [good[0], bad, good[1]], numClasses: 4),
                                   config: config, runDirectory: dir)
        try skipping.train()
        let plain = try Trainer(net: try TrainerTests.tinyNet(), source: FixedBatchSource(batches: good, numClasses: 4),
                                config: config, runDirectory: nil)
        for b in good { try plain.step(b) }
        try plain.averageRunningStatistics()
        XCTAssertEqual(Self.values(skipping.net.store), Self.values(plain.net.store))
        XCTAssertEqual(skipping.centerLoss!.centers.toArray(), plain.centerLoss!.centers.toArray())
        XCTAssertEqual(skipping.optimizer.stepCount, 2)
        XCTAssertEqual(skipping.state.iteration, 3)
        XCTAssertEqual(skipping.state.skippedSteps, 1)

        let lines = try metrics(dir)
        XCTAssertEqual(lines.filter { $0.contains("\"event\":\"skipped_step\"") }.count, 1, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("\"event\":\"skipped_step\"") && $0.contains("\"grad_norm\":null") },
                      "NaN as null")
        let epoch = try XCTUnwrap(lines.first { $0.contains("\"event\":\"epoch\"") })
        XCTAssertTrue(epoch.contains("\"skipped_steps\":1"), epoch)
        let json = try XCTUnwrap(try SafetensorsFile(path: dir + "/checkpoint.safetensors").metadata[Checkpoint.stateKey])
        let state = try JSONDecoder().decode(TrainingState.self, from: Data(json.utf8))
        XCTAssertEqual(state.skippedSteps, 1)
        XCTAssertTrue(state.firstEpochMeanLoss?.isFinite ?? false, "skipped steps stay out of the mean")
    }

    func testLossThatCannotBeComputedStopsOrIsSkipped() throws {
        // Features too large for float: the triplet loss's distances overflow to NaN.
        func trainer(_ action: NonFiniteAction) throws -> Trainer {
            let net = try TrainerTests.tinyNet()
            let w = net.store.parameter(net.store.lookup("layer4.1.bn2.weight")!.index)
            for i in 0..<w.count { w[i] = 1e25 }
            var config = Self.config(lr: 1e-3)
            config.onNonFinite = action
            let batch = TrainerTests.randomBatch(seed: 80)
            return try Trainer(net: net, source: FixedBatchSource(batches: [batch], numClasses: 4), config: config,
                               runDirectory: nil)
        }
        let batch = TrainerTests.randomBatch(seed: 80)
        XCTAssertThrowsError(try trainer(.stop).step(batch)) { error in
            XCTAssertTrue("\(error)".hasPrefix("training stopped at epoch 1, iteration 1: non-finite values at learning rate "
                                               + "0.001: TripletLoss: the distance between samples"), "\(error)")
        }
        let skipping = try trainer(.skip)
        let before = Self.values(skipping.net.store)
        XCTAssertTrue(try skipping.step(batch).skipped)
        XCTAssertEqual(Self.values(skipping.net.store), before)
        XCTAssertEqual(skipping.state.skippedSteps, 1)
        XCTAssertEqual(skipping.optimizer.stepCount, 0)
    }

    func testTwoRanksStopTogetherWithTheSameMessage() throws {
        let lock = NSLock()
        nonisolated(unsafe) var messages: [Int: String] = [:]
        XCTAssertThrowsError(try ThreadWorld(size: 2).run { rank, comm in
            let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true, numClasses: 6))
            var config = DataParallelTests.config()
            config.schedule = LRSchedule(base: 1e6)
            let batches = (0..<3).map { DataParallelTests.slice(DataParallelTests.globalBatch(step: $0), rank: rank, world: 2) }
            let trainer = try Trainer(net: net, source: FixedBatchSource(batches: batches, numClasses: 6), config: config,
                                      runDirectory: nil, comm: comm)
            do {
                for i in 0..<30 { try trainer.step(batches[i % 3]) }
            } catch {
                lock.lock(); messages[rank] = "\(error)"; lock.unlock()
                throw error
            }
        })
        XCTAssertEqual(messages.count, 2)
        XCTAssertEqual(messages[0], messages[1], "every rank decides the same without communicating")
        XCTAssertTrue(messages[0]?.hasPrefix("training stopped at epoch 1, iteration ") ?? false, "\(messages)")
    }

    func testStepCheckBoundSkipLimitAndSwitches() {
        var state = TrainingState()
        var config = TrainerConfig()
        var check = StepCheck(config)
        XCTAssertEqual(check.verdict(loss: 1e30, gradientNorm: 1, learningRate: 0.1, state: state, step: "s"), .update,
                       "no reference before the first step")
        state.firstLoss = 4
        XCTAssertEqual(check.verdict(loss: 3999, gradientNorm: 1, learningRate: 0.1, state: state, step: "s"), .update)
        XCTAssertEqual(check.verdict(loss: 4001, gradientNorm: 1, learningRate: 0.1, state: state, step: "epoch 1, iteration 9"),
                       .stop("training stopped at epoch 1, iteration 9: loss 4001 exceeds 4000 (train.divergence_factor 1000 "
                             + "x the run's first loss 4) at learning rate 0.1; nothing from this step was saved"))
        state.firstEpochMeanLoss = 0.01
        XCTAssertEqual(check.verdict(loss: 999, gradientNorm: 1, learningRate: 0.1, state: state, step: "s"), .update,
                       "a reference below 1 counts as 1")
        guard case .stop(let why) = check.verdict(loss: 1001, gradientNorm: 1, learningRate: 0.1, state: state, step: "s") else {
            return XCTFail("not stopped")
        }
        XCTAssertTrue(why.contains("the first epoch's mean loss 0.01, counted as 1"), why)
        guard case .stop(let gradients) = check.verdict(loss: 2, gradientNorm: .infinity, learningRate: 0.1, state: state,
                                                        step: "s") else { return XCTFail("not stopped") }
        XCTAssertTrue(gradients.contains("non-finite gradients (norm inf, loss 2)"), gradients)

        config.divergenceFactor = 0
        config.onNonFinite = .skip
        check = StepCheck(config)
        XCTAssertEqual(check.verdict(loss: 1e30, gradientNorm: 1, learningRate: 0.1, state: state, step: "s"), .update)
        for _ in 1..<StepCheck.skipLimit {
            XCTAssertEqual(check.verdict(loss: .nan, gradientNorm: .nan, learningRate: 0.1, state: state, step: "s"),
                           .skip("non-finite loss (NaN) at learning rate 0.1"))
        }
        guard case .stop(let limit) = check.verdict(loss: .nan, gradientNorm: .nan, learningRate: 0.1, state: state,
                                                    step: "s") else { return XCTFail("skipping forever") }
        XCTAssertTrue(limit.contains("\(StepCheck.skipLimit) steps in a row skipped"), limit)
        _ = check.verdict(loss: 1, gradientNorm: 1, learningRate: 0.1, state: state, step: "s")
        XCTAssertEqual(check.skippedInARow, 0, "a good step resets the count")
    }

    func testSavingAStateHoldingInfinityIsRefused() throws {
        let batch = TrainerTests.randomBatch(seed: 60)
        let dir = tmp.appendingPathComponent("inf").path
        let trainer = try Trainer(net: try TrainerTests.tinyNet(), source: FixedBatchSource(batches: [batch], numClasses: 4),
                                  config: Self.config(lr: 0.01), runDirectory: dir)
        try trainer.step(batch)
        trainer.net.store.parameter(trainer.net.store.lookup("layer3.1.bn2.weight")!.index)[1] = .infinity
        XCTAssertThrowsError(try trainer.saveCheckpoint()) { error in
            XCTAssertTrue("\(error)".hasPrefix("training stopped after epoch 1, iteration 1: layer3.1.bn2.weight holds NaN "
                                               + "or infinite values at learning rate 0.01"), "\(error)")
            XCTAssertTrue("\(error)".hasSuffix("the checkpoint was not written"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors"))
    }

    /// Rewrites a safetensors file with `edit` applied to one tensor's values (a checkpoint
    /// as if written so, its fingerprint made anew).
    func rewrite(_ path: String, to out: String, tensor: String, _ edit: (inout [Float]) -> Void) throws {
        let file = try SafetensorsFile(path: path)
        var w = SafetensorsWriter()
        w.metadata = file.metadata
        w.hashData = file.metadata[DataHash.key] != nil
        for e in file.entries {
            if e.dtype == .I64 {
                w.add(e.name, int64s: try file.int64s(e.name), shape: e.shape)
            } else {
                var v = try file.floats(e.name)
                if e.name == tensor { edit(&v) }
                w.add(e.name, floats: v, shape: e.shape)
            }
        }
        try w.write(to: out)
    }

    func testCheckpointsAndPretrainedFilesHoldingNaNAreRefusedNamingTheTensor() throws {
        let batch = TrainerTests.randomBatch(seed: 70)
        var config = Self.config(lr: 0.01)
        config.epochs = 1
        let dir = tmp.appendingPathComponent("ckpt").path
        try Trainer(net: try TrainerTests.tinyNet(), source: FixedBatchSource(batches: [batch], numClasses: 4), config: config,
                    runDirectory: dir).train()
        let checkpoint = dir + "/checkpoint.safetensors"
        let resumer = try Trainer(net: try TrainerTests.tinyNet(seed: 3), source: FixedBatchSource(batches: [batch], numClasses: 4),
                                  config: config, runDirectory: nil)
        let before = Self.values(resumer.net.store)
        for tensor in ["optimizer.momentum_buffer.layer1.0.conv1.weight", "layer1.0.conv1.weight"] {
            let bad = tmp.appendingPathComponent("bad.safetensors").path
            try rewrite(checkpoint, to: bad, tensor: tensor) { $0[3] = .nan }
            XCTAssertThrowsError(try resumer.resume(from: bad)) { error in
                XCTAssertTrue("\(error)".contains("\(bad): non-finite values in 1 tensor(s), nothing was loaded: "
                                                  + "\(tensor) (1 NaN of "), "\(error)")
            }
            XCTAssertEqual(Self.values(resumer.net.store), before, tensor)
        }

        // model.pretrained (a reidprune model here), as `train` reads it.
        let pretrained = tmp.appendingPathComponent("pretrained.safetensors").path
        try rewrite(checkpoint, to: pretrained, tensor: "conv1.weight") { v in for i in v.indices { v[i] = .nan } }
        var model = ModelConfig()
        model.depth = .resnet18
        model.baseWidth = 4
        model.lastStride = 2
        model.pretrained = pretrained
        model.head = HeadConfig(bnneck: true)
        XCTAssertThrowsError(try Experiment.buildNet(model, numClasses: 4, seed: 1)) { error in
            XCTAssertTrue("\(error)".contains("\(pretrained): non-finite values in 1 tensor(s), nothing was loaded: conv1.weight ("),
                          "\(error)")
        }
    }

    /// The executable, as a user runs it: a good epoch, then a rerun with more epochs that
    /// resumes into the schedule's huge learning rate (epoch 1 on) and diverges; it must
    /// exit non-zero with one line, not trap. (A changed learning rate itself would be
    /// refused by the resume check.)
    func testExecutableExitsWithAnErrorLineAndWritesNothingFromTheDivergedState() throws {
        let executable = ChildProcess.reidprune
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: executable), "\(executable) is not built")
        let d = tmp.path
        let recipe = """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data:
              root: \(d)/data
              synth: {domain: mall, ids: 12, cameras: 2, images_per_id: 6, seed: 4, height: 64, width: 32}
              height: 64
              width: 32
              identities: 4
              instances: 2
              workers: 1
            train: {epochs: 1, optimizer: sgd, lr: 0.01, warmup_epochs: 0, schedule: multistep, milestones: [1], gamma: 1.0e+8,
                    progress: false, checkpoint_every: 1}
            eval: {batch_size: 32}
            run: {dir: \(d)/run}
            """
        try recipe.write(toFile: d + "/tiny.yaml", atomically: true, encoding: .utf8)
        func run(_ overrides: [String]) throws -> (Int32, String) {
            try ChildProcess.run([executable, "train", "--config", d + "/tiny.yaml"] + overrides)
        }
        let (ok, first) = try run([])
        XCTAssertEqual(ok, 0, first)
        let checkpoint = URL(fileURLWithPath: d + "/run/checkpoint.safetensors")
        let good = try Data(contentsOf: checkpoint)
        for name in ["model.safetensors", "results.json"] { try FileManager.default.removeItem(atPath: d + "/run/" + name) }

        let (status, out) = try run(["train.epochs=3"])
        XCTAssertEqual(status, 1, out)
        XCTAssertFalse(out.contains("Fatal error"), out)
        let last = out.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("Error: training stopped at epoch 2, iteration "), out)
        XCTAssertTrue(last.contains("learning rate 1e+06"), last)
        XCTAssertEqual(try Data(contentsOf: checkpoint), good)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/run/model.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/run/results.json"))
    }
}
