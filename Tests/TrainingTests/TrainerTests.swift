// The single-process trainer: a tiny network overfits one batch; a run that stops and
// resumes from its checkpoint ends exactly where an uninterrupted run ends; metrics
// and checkpoints land in the run folder; epochs of different lengths (an identity
// sampler's) are trained to their own ends.
import Foundation
import NN
import Optim
import ReIDData
import Tensors
import TestSupport
import Training
import XCTest

final class TrainerTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-trainer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    static func randomBatch(seed: UInt64, n: Int = 8, classes: Int = 4, h: Int = 64, w: Int = 32) -> Batch {
        var rng = SeededRandom(seed: seed)
        let images = rng.tensor([n, h, w, 3], .nhwc)
        let pids = (0..<n).map { $0 * classes / n }
        return Batch(images: images, pids: pids, camids: (0..<n).map { $0 % 2 })
    }

    static func tinyNet(seed: UInt64 = 5) throws -> ReIDNet {
        try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true, numClasses: 4),
                    seed: seed)
    }

    func testTinyNetworkOverfitsOneBatch() throws {
        let batch = Self.randomBatch(seed: 1)
        var config = TrainerConfig()
        config.optimizer = .adam
        config.schedule = LRSchedule(base: 3e-3)
        config.labelSmoothing = 0
        config.progress = false
        let trainer = try Trainer(net: try Self.tinyNet(), source: FixedBatchSource(batches: [batch], numClasses: 4),
                                  config: config, runDirectory: nil)
        let first = try trainer.step(batch).loss
        var last = first
        for _ in 0..<150 { last = try trainer.step(batch).loss }
        XCTAssertLessThan(last, 0.05 * first, "loss went from \(first) to \(last)")
    }

    /// Serves `lengths[epoch % lengths.count]` batches in each epoch and fails past the end,
    /// as the loader does.
    final class UnevenSource: BatchSource {
        let lengths: [Int]
        let batch = TrainerTests.randomBatch(seed: 3)
        var served = 0, epoch = 0
        var perEpochServed: [Int] = []
        init(lengths: [Int]) { self.lengths = lengths }
        var numClasses: Int { 4 }
        var batchesPerEpoch: Int { lengths[0] }
        func batches(inEpoch e: Int) -> Int { lengths[e % lengths.count] }
        func startEpoch(_ e: Int) { startEpoch(e, at: 0) }
        func startEpoch(_ e: Int, at first: Int) {
            if epoch != e || served > 0 { perEpochServed.append(served) }
            (epoch, served) = (e, first)
        }
        func next() throws -> Batch {
            guard served < batches(inEpoch: epoch) else { throw DatasetError("past the end of epoch \(epoch)") }
            served += 1
            return batch
        }
    }

    func testEpochsOfDifferentLengthsTrainToTheirOwnEnds() throws {
        var config = TrainerConfig()
        config.optimizer = .sgd
        config.schedule = LRSchedule(base: 0.01)
        config.epochs = 4
        config.progress = false
        let source = UnevenSource(lengths: [3, 2, 4])
        let trainer = try Trainer(net: try Self.tinyNet(), source: source, config: config, runDirectory: nil)
        try trainer.train()
        source.startEpoch(99)
        XCTAssertEqual(source.perEpochServed, [3, 2, 4, 3])
        XCTAssertEqual(trainer.state.iteration, 12)
    }

    func testResumeFromCheckpointMatchesUninterruptedRun() throws {
        let batches = (0..<3).map { Self.randomBatch(seed: 10 + UInt64($0)) }
        var config = TrainerConfig()
        config.optimizer = .sgd
        config.schedule = LRSchedule(base: 0.01, warmupEpochs: 1, decay: .multiStep(milestones: [2], gamma: 0.1))
        config.epochs = 4
        config.checkpointEvery = 2
        config.progress = false
        config.centerWeight = 0.01

        let straight = try Trainer(net: try Self.tinyNet(), source: FixedBatchSource(batches: batches, numClasses: 4),
                                   config: config, runDirectory: tmp.appendingPathComponent("straight").path)
        try straight.train()

        var half = config
        half.epochs = 2
        let dir = tmp.appendingPathComponent("resumed").path
        let second = try Self.trainedThenResumed(batches, first: half, then: config, in: dir, seed: 99)
        XCTAssertEqual(second.state.epoch, 2)
        try second.train()

        XCTAssertEqual(second.state.iteration, straight.state.iteration)
        let a = straight.net.store, b = second.net.store
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.parameters, count: a.parameterCapacity)),
                       Array(UnsafeBufferPointer(start: b.parameters, count: b.parameterCapacity)))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.buffers, count: a.bufferCapacity)),
                       Array(UnsafeBufferPointer(start: b.buffers, count: b.bufferCapacity)))

        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("\"event\":\"epoch\"") }.count, 4)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(files.filter { $0.contains("tmp") }, [], "no temporary file is left behind")
    }

    /// A run trained with `first` in `dir`, then a trainer of another initialization (`seed`)
    /// with `then`, resumed from its checkpoint (not yet trained on).
    static func trainedThenResumed(_ batches: [Batch], first: TrainerConfig, then: TrainerConfig, in dir: String,
                                   seed: UInt64) throws -> Trainer {
        try Trainer(net: try tinyNet(), source: FixedBatchSource(batches: batches, numClasses: 4), config: first,
                    runDirectory: dir).train()
        let second = try Trainer(net: try tinyNet(seed: seed), source: FixedBatchSource(batches: batches, numClasses: 4),
                                 config: then, runDirectory: dir)
        try second.resume(from: dir + "/checkpoint.safetensors")
        return second
    }

    func testResumeInTheMiddleOfAnEpochMatchesUninterruptedRun() throws {
        let batches = (0..<3).map { Self.randomBatch(seed: 20 + UInt64($0)) }
        var config = TrainerConfig()
        config.optimizer = .adam
        config.schedule = LRSchedule(base: 0.001, decay: .cosine(totalEpochs: 3, minimum: 0))
        config.epochs = 3
        config.progress = false
        let straight = try Trainer(net: try Self.tinyNet(), source: FixedBatchSource(batches: batches, numClasses: 4),
                                   config: config, runDirectory: tmp.appendingPathComponent("a").path)
        try straight.train()

        // Stopped inside epoch 1 (the second), or inside the first, whose mean loss is the
        // divergence bound's reference: the same weights, and the same epoch rows.
        func epochRows(_ dir: String) throws -> [Double] {
            try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
                let row = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
                return row["event"] as? String == "epoch" ? row["mean_loss"] as? Double : nil
            }
        }
        for (stop, resumedAt) in [(5, (1, 2)), (2, (0, 2))] {
            var interrupted = config
            interrupted.maxIterations = stop  // 3 batches per epoch
            interrupted.checkpointIterations = 1
            let dir = tmp.appendingPathComponent("b\(stop)").path
            let second = try Self.trainedThenResumed(batches, first: interrupted, then: config, in: dir, seed: 42)
            XCTAssertEqual(second.state.epoch, resumedAt.0)
            XCTAssertEqual(second.state.batchInEpoch, resumedAt.1)
            try second.train()
            XCTAssertEqual(second.state.iteration, 9)
            let a = straight.net.store, b = second.net.store
            XCTAssertEqual(Array(UnsafeBufferPointer(start: a.parameters, count: a.parameterCapacity)),
                           Array(UnsafeBufferPointer(start: b.parameters, count: b.parameterCapacity)))
            XCTAssertEqual(second.state.firstEpochMeanLoss, straight.state.firstEpochMeanLoss)
            XCTAssertEqual(try epochRows(dir), try epochRows(tmp.appendingPathComponent("a").path))
            XCTAssertEqual(try epochRows(dir).count, 3)
        }
    }

    /// A source that counts one replaced image per batch served.
    final class ReplacingSource: BatchSource {
        let inner: FixedBatchSource
        private(set) var replacedImages = 0
        init(_ inner: FixedBatchSource) { self.inner = inner }
        var numClasses: Int { inner.numClasses }
        var batchesPerEpoch: Int { inner.batchesPerEpoch }
        func batches(inEpoch epoch: Int) -> Int { inner.batches(inEpoch: epoch) }
        func startEpoch(_ epoch: Int) { inner.startEpoch(epoch) }
        func startEpoch(_ epoch: Int, at first: Int) { inner.startEpoch(epoch, at: first) }
        func next() throws -> Batch { replacedImages += 1; return inner.next() }
        var perRankStream: Bool { false }
    }

    /// The count of replaced images (`data.skip_corrupt`) is kept in the checkpoint, so a
    /// resumed run reports every image replaced since the run started.
    func testReplacedImagesAreCountedAcrossAResume() throws {
        let batches = (0..<3).map { Self.randomBatch(seed: 40 + UInt64($0)) }
        var config = TrainerConfig()
        config.epochs = 3
        config.progress = false
        config.maxIterations = 5
        config.checkpointIterations = 1
        let dir = tmp.appendingPathComponent("replaced").path
        let first = try Trainer(net: try Self.tinyNet(), source: ReplacingSource(FixedBatchSource(batches: batches, numClasses: 4)),
                                config: config, runDirectory: dir)
        try first.train()
        config.maxIterations = 0
        let second = try Trainer(net: try Self.tinyNet(), source: ReplacingSource(FixedBatchSource(batches: batches, numClasses: 4)),
                                 config: config, runDirectory: dir)
        try second.resume(from: dir + "/checkpoint.safetensors")
        XCTAssertEqual(second.state.replacedImages, 5)
        try second.train()
        try second.countReplacedImages()
        XCTAssertEqual(second.state.replacedImages, 9)
    }

    func testResumeDropsMetricsRowsWrittenAfterTheCheckpoint() throws {
        let batches = (0..<2).map { Self.randomBatch(seed: 30 + UInt64($0)) }
        var config = TrainerConfig()
        config.epochs = 2
        config.progress = false
        config.logEvery = 1
        let dir = tmp.appendingPathComponent("log").path
        try Trainer(net: try Self.tinyNet(), source: FixedBatchSource(batches: batches, numClasses: 4), config: config,
                    runDirectory: dir).train()
        let path = dir + "/metrics.jsonl"
        let atCheckpoint = try String(contentsOfFile: path, encoding: .utf8)
        // A run that died after its checkpoint had logged rows that the resumed run logs again.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"event\":\"train\",\"iteration\":5}\n".utf8))
        try handle.close()
        let resumed = try Trainer(net: try Self.tinyNet(), source: FixedBatchSource(batches: batches, numClasses: 4),
                                  config: config, runDirectory: dir)
        try resumed.resume(from: dir + "/checkpoint.safetensors")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), atCheckpoint)
    }

    /// A checkpoint carries a fingerprint of its tensor bytes: one low bit flipped after it
    /// was written (a finite, plausible value) is refused at load, and nothing is loaded.
    func testResumeRefusesACheckpointChangedAfterItWasWritten() throws {
        var (config, batch, dir) = try oneEpoch(.adam, seed: 5)
        let path = dir + "/checkpoint.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 6] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        config.epochs = 2
        let resumed = try Trainer(net: try Self.tinyNet(seed: 9), source: FixedBatchSource(batches: [batch], numClasses: 4),
                                  config: config, runDirectory: nil)
        let before = Array(UnsafeBufferPointer(start: resumed.net.store.parameters, count: resumed.net.store.parameterCapacity))
        XCTAssertThrowsError(try resumed.resume(from: path)) {
            XCTAssertTrue("\($0)".hasPrefix("\(path): its tensor bytes no longer match the fingerprint written with them"), "\($0)")
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: resumed.net.store.parameters, count: resumed.net.store.parameterCapacity)),
                       before)
    }

    /// Adam's second moments cannot be negative: a checkpoint holding one is refused at
    /// load, naming the tensor, instead of training on into NaN updates.
    func testResumeRefusesANegativeSecondMoment() throws {
        var (config, batch, dir) = try oneEpoch(.adam, seed: 4)
        let path = dir + "/checkpoint.safetensors"
        let file = try SafetensorsFile(path: path)
        var w = SafetensorsWriter()
        w.metadata = file.metadata
        w.hashData = true  // as if written so: the load's fingerprint check passes and the moment's check is reached
        for e in file.entries {
            if e.dtype == .I64 { w.add(e.name, int64s: try file.int64s(e.name), shape: e.shape); continue }
            var v = try file.floats(e.name)
            if e.name == "optimizer.exp_avg_sq.conv1.weight" { v[2] = -1 }
            w.add(e.name, floats: v, shape: e.shape)
        }
        try w.write(to: path)
        config.epochs = 2
        let resumed = try Trainer(net: try Self.tinyNet(), source: FixedBatchSource(batches: [batch], numClasses: 4),
                                  config: config, runDirectory: nil)
        XCTAssertThrowsError(try resumed.resume(from: path)) {
            XCTAssertEqual("\($0)", "\(path): 'optimizer.exp_avg_sq.conv1.weight' has a negative second moment -1.0 at "
                           + "index 2; nothing was loaded")
        }
    }

    /// One epoch on one random batch with `optimizer`, written to a run folder: the
    /// config, the batch and the folder.
    func oneEpoch(_ optimizer: TrainerConfig.OptimizerKind, seed: UInt64) throws -> (TrainerConfig, Batch, String) {
        let batch = Self.randomBatch(seed: seed)
        var config = TrainerConfig()
        config.optimizer = optimizer
        config.epochs = 1
        config.progress = false
        let dir = tmp.appendingPathComponent("one-epoch-\(seed)").path
        try Trainer(net: try Self.tinyNet(), source: FixedBatchSource(batches: [batch], numClasses: 4), config: config,
                    runDirectory: dir).train()
        return (config, batch, dir)
    }

    func testResumeWithWrongOptimizerNamesMissingState() throws {
        var (config, batch, dir) = try oneEpoch(.sgd, seed: 3)
        config.optimizer = .adam
        let other = try Trainer(net: try Self.tinyNet(), source: FixedBatchSource(batches: [batch], numClasses: 4),
                                config: config, runDirectory: nil)
        XCTAssertThrowsError(try other.resume(from: dir + "/checkpoint.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("optimizer.exp_avg."), "\(error)")
        }
    }

    func testScheduleWarmupMultiStepAndCosine() {
        let s = LRSchedule(base: 1, warmupEpochs: 10, warmupFactor: 0.01, decay: .multiStep(milestones: [40, 70], gamma: 0.1))
        XCTAssertEqual(s.rate(at: 0), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(at: 5), 0.505, accuracy: 1e-12)
        XCTAssertEqual(s.rate(at: 10), 1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(at: 40), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(at: 75), 0.01, accuracy: 1e-12)
        let c = LRSchedule(base: 1, decay: .cosine(totalEpochs: 10, minimum: 0))
        XCTAssertEqual(c.rate(at: 5), 0.5, accuracy: 1e-12)
        XCTAssertEqual(c.rate(at: 10), 0, accuracy: 1e-12)
    }
}
