// ResumeCheck and the rank count: a checkpoint resumes on another number of ranks when
// the data comes through the global sampler (the change is listed as "ranks"), and is
// refused, naming the counts, when the data source reads per rank (shards); the
// collective watchdog's distributed.timeout_s is read, defaulted and checked.
import Foundation
import ReIDData
import Tensors
import Training
import XCTest

final class ResumeCheckTests: XCTestCase {
    let recipe = """
        train:
          epochs: 4
          lr: 0.01
        data:
          identities: 6
          instances: 2
        """

    func testRankCountMayChangeWithTheGlobalSampler() throws {
        let changes = try ResumeCheck.check(saved: recipe, current: recipe, checkpoint: "c.safetensors", ranks: (3, 2),
                                            perRankStream: false)
        XCTAssertEqual(changes, [ResumeCheck.Change(key: "ranks", old: "3", new: "2")])
        XCTAssertEqual(try ResumeCheck.check(saved: recipe, current: recipe, checkpoint: "c", ranks: (2, 2)), [])
        // A checkpoint that did not record its rank count resumes as before.
        XCTAssertEqual(try ResumeCheck.check(saved: recipe, current: recipe, checkpoint: "c", ranks: (nil, 5)), [])
    }

    /// A checkpoint whose saved recipe is not YAML (a damaged file) is named.
    func testMalformedSavedRecipeNamesTheCheckpoint() {
        XCTAssertThrowsError(try ResumeCheck.check(saved: "train: {epochs: [", current: recipe, checkpoint: "c.safetensors",
                                                   ranks: (1, 1))) {
            XCTAssertTrue("\($0)".hasPrefix("c.safetensors: the saved recipe: malformed YAML: line "), "\($0)")
        }
    }

    func testRankCountChangeIsRefusedForPerRankStreams() throws {
        XCTAssertThrowsError(try ResumeCheck.check(saved: recipe, current: recipe, checkpoint: "run/checkpoint.safetensors",
                                                   ranks: (3, 2), perRankStream: true)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("run/checkpoint.safetensors: cannot resume: the rank count changed (3 -> 2)"), text)
            XCTAssertTrue(text.contains("resume on 3 ranks"), text)
        }
        // The same rank count is fine for such a source.
        XCTAssertEqual(try ResumeCheck.check(saved: recipe, current: recipe, checkpoint: "c", ranks: (3, 3),
                                             perRankStream: true), [])
    }

    func testAChangedRankCountDoesNotExcuseOtherChanges() throws {
        let other = recipe.replacingOccurrences(of: "instances: 2", with: "instances: 4")
        XCTAssertThrowsError(try ResumeCheck.check(saved: recipe, current: other, checkpoint: "c", ranks: (3, 2))) { error in
            XCTAssertTrue("\(error)".contains("'data.instances' (2 -> 4)"), "\(error)")
            XCTAssertFalse("\(error)".contains("ranks"), "\(error)")
        }
    }

    /// A checkpoint written before a key existed resumes when the key is at its default,
    /// and is refused, naming the key, when the recipe now sets another value.
    func testAKeyAddedSinceTheCheckpointReadsAsItsDefault() throws {
        var config = ExperimentConfig()
        config.data.root = "/data/synth"
        let current = config.yaml
        XCTAssertTrue(current.contains("gradient_precision: fp32"), current)
        let older = current.components(separatedBy: "\n").filter { !$0.contains("gradient_precision") }.joined(separator: "\n")
        XCTAssertNotEqual(older, current)
        XCTAssertEqual(try ResumeCheck.check(saved: older, current: current, checkpoint: "c"), [])
        config.train.distributed.gradientPrecision = .bf16
        XCTAssertThrowsError(try ResumeCheck.check(saved: older, current: config.yaml, checkpoint: "c")) { error in
            XCTAssertTrue("\(error)".contains("'distributed.gradient_precision' (fp32 -> bf16)"), "\(error)")
        }
    }

    /// MSMT17 trained on list_val.txt too before data.msmt17_val existed: a checkpoint of
    /// such a run does not resume on list_train.txt alone unless told to.
    func testAnOlderMSMT17CheckpointKeepsItsValidationImages() throws {
        var config = ExperimentConfig()
        config.data.root = "/data/somewhere"
        config.data.kind = .msmt17
        let current = config.yaml
        XCTAssertTrue(current.contains("msmt17_val: false"), current)
        let older = current.components(separatedBy: "\n").filter { !$0.contains("msmt17_val") }.joined(separator: "\n")
        XCTAssertThrowsError(try ResumeCheck.check(saved: older, current: current, checkpoint: "c")) { error in
            XCTAssertTrue("\(error)".contains("'data.msmt17_val' (true -> false)"), "\(error)")
        }
        config.data.msmt17Val = true
        XCTAssertEqual(try ResumeCheck.check(saved: older, current: config.yaml, checkpoint: "c"), [])
        // Other data sets are not concerned.
        config.data.kind = .market1501
        config.data.msmt17Val = false
        let market = config.yaml
        XCTAssertEqual(try ResumeCheck.check(saved: market.components(separatedBy: "\n").filter { !$0.contains("msmt17_val") }
                                                .joined(separator: "\n"), current: market, checkpoint: "c"), [])
    }

    func testSourcesSayWhetherTheyReadPerRank() throws {
        let batch = Batch(images: Tensor(shape: [1, 4, 4, 3], layout: .nhwc), pids: [0], camids: [0])
        XCTAssertFalse(FixedBatchSource(batches: [batch], numClasses: 1).perRankStream)
        final class Shards: BatchSource {
            var numClasses: Int { 1 }
            var batchesPerEpoch: Int { 1 }
            func startEpoch(_ epoch: Int) {}
            func startEpoch(_ epoch: Int, at first: Int) {}
            func next() throws -> Batch { throw CocoaError(.fileNoSuchFile) }
            var perRankStream: Bool { true }
        }
        let source: BatchSource = Shards()
        XCTAssertTrue(source.perRankStream, "a source's own answer wins over the protocol's default")
    }

    func testCollectiveTimeoutIsTypedConfig() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-timeout-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.yaml").path
        try "data: {root: \(dir.path)/data}\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ExperimentConfig.parse(try ConfigFile.load(path)).train.distributed.timeoutSeconds, 300)
        let set = try ExperimentConfig.parse(try ConfigFile.load(path, overrides: ["distributed.timeout_s=2.5"]))
        XCTAssertEqual(set.train.distributed.timeoutSeconds, 2.5)
        XCTAssertTrue(set.yaml.contains("timeout_s: 2.5"), set.yaml)
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(path, overrides: ["distributed.timeout_s=-1"]))) {
            XCTAssertTrue("\($0)".contains("override 'distributed.timeout_s=-1': must be a non-negative number of seconds"), "\($0)")
        }
    }

    /// A metrics log whose last line was cut short (a crash mid-write) drops that part
    /// when opened, so that the next row starts its own line and every line is JSON; a
    /// checkpoint that recorded more bytes than the log holds is noted, not padded.
    func testMetricsLogDropsAPartialLastLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(getpid()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "{\"iteration\":1}\n{\"iterat".write(toFile: path, atomically: true, encoding: .utf8)
        let log = try MetricsLog(path: path)
        XCTAssertEqual(log.partialLineDropped, 8)
        XCTAssertEqual(log.size, 16)
        try log.truncate(to: 40)
        XCTAssertEqual(log.missingBytes, 24)
        try log.write(["iteration": 2])
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        for line in lines { XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8))) }
    }

    /// The partial last line is found from the end even when it is longer than the block
    /// read at a time, and a log with no newline at all is emptied.
    func testMetricsLogDropsALongPartialLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-long-\(getpid()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ("{\"iteration\":1}\n" + String(repeating: "x", count: 150_000)).write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try MetricsLog(path: path).partialLineDropped, 150_000)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "{\"iteration\":1}\n")
        try String(repeating: "y", count: 70_000).write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try MetricsLog(path: path).size, 0)
    }

    /// A row that cannot be written (a full device) is an error naming the log, not a crash.
    func testMetricsLogWriteOnAFullDeviceThrows() throws {
        let log = try MetricsLog(path: "/dev/full")
        XCTAssertThrowsError(try log.write(["iteration": 1])) {
            XCTAssertEqual("\($0)", "/dev/full: cannot write the metrics log: No space left on device")
        }
    }
}
