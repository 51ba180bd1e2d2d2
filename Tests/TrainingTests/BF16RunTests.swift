// bf16 runs from the recipe key and the command line: `train.precision` reads fp32|bf16
// and names itself when wrong; a bf16 run trains, records its precision, and its model
// prunes, evaluates, extracts and benchmarks in bf16 through the executable; a
// data-driven pruning round on a bf16 trainer cuts the same network on every rank; a
// machine without native bf16 (oneDNN limited by DNNL_MAX_CPU_ISA) gets one error line.
import Distributed
import Foundation
import NN
import Optim
import ReIDData
import Tensors
import TestSupport
import Training
import XCTest

final class BF16RunTests: ScratchFolderTestCase {
    private func recipe() throws -> String {
        try write("tiny.yaml", """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data:
              root: \(dir.path)/data
              synth: {domain: mall, ids: 30, cameras: 2, images_per_id: 6, seed: 4, height: 64, width: 32}
              height: 64
              width: 32
              identities: 4
              instances: 2
              workers: 1
            train: {epochs: 1, optimizer: sgd, lr: 0.01, warmup_epochs: 0, log_every: 1, progress: false}
            eval: {batch_size: 32}

            """)
    }

    private var needsNativeBF16: String {
        "bf16 needs native bfloat16 (AVX512_BF16 or AMX); oneDNN's best instruction set here is \(Precision.effectiveISA)"
    }

    func testPrecisionKeyDefaultsReadsAndNamesItselfWhenWrong() throws {
        let path = try recipe()
        XCTAssertEqual(try ExperimentConfig.parse(try ConfigFile.load(path)).train.precision, .fp32)
        let bf16 = try ExperimentConfig.parse(try ConfigFile.load(path, overrides: ["train.precision=bf16"]))
        XCTAssertEqual(bf16.train.precision, .bf16)
        XCTAssertTrue(bf16.yaml.contains("precision: bf16"), "the saved recipe keeps the precision:\n\(bf16.yaml)")
        let wrong = try write("wrong.yaml", try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "progress: false}", with: "progress: false, precision: fp16}"))
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(wrong))) {
            XCTAssertTrue("\($0)".contains("train.precision") && "\($0)".contains("'fp16' is not one of fp32, bf16"), "\($0)")
        }
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(path, overrides: ["train.precision=half"]))) {
            XCTAssertTrue("\($0)".contains("train.precision=half"), "\($0)")
        }
    }

    /// A bf16 run end to end through the executable: train (checkpoint, results, metrics),
    /// prune its model (L1), evaluate, extract and benchmark in bf16.
    func testBF16RunTrainsPrunesEvaluatesAndExtracts() throws {
        try XCTSkipUnless(Precision.nativeBF16, needsNativeBF16)
        let path = try recipe(), run = dir.path + "/run"
        func reidprune(_ args: [String]) throws -> String {
            let (status, out) = try ChildProcess.run([ChildProcess.reidprune] + args)
            XCTAssertEqual(status, 0, "reidprune \(args.joined(separator: " ")):\n\(out)")
            return out
        }
        _ = try reidprune(["train", "--config", path, "run.dir=\(run)", "train.precision=bf16"])
        let result = try JSONDecoder().decode(RunResult.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/results.json")))
        XCTAssertEqual(result.precision, "bf16")
        XCTAssertTrue(result.rank1.isFinite && result.mAP.isFinite)
        let metrics = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(metrics.contains("\"precision\":\"bf16\""), metrics)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors"))

        let pruned = dir.path + "/pruned.safetensors"
        _ = try reidprune(["prune", "--config", path, "--weights", run + "/model.safetensors", "--out", pruned,
                           "--criterion", "l1", "--target-flops", "0.6"])
        let cut = try ModelWeights.loadNet(pruned, expected: nil)
        XCTAssertLessThan(cut.store.parameterCount, try ModelWeights.loadNet(run + "/model.safetensors", expected: nil)
            .store.parameterCount)
        let eval = try reidprune(["eval", "--config", path, "--weights", pruned, "--precision", "bf16", "--json"])
        XCTAssertTrue(eval.contains("mAP"), eval)
        let features = dir.path + "/q.safetensors"
        _ = try reidprune(["extract", "--weights", pruned, "--data", dir.path + "/data", "--split", "query", "--out", features,
                           "--height", "64", "--width", "32", "--precision", "bf16"])
        let f = try SafetensorsFile(path: features).floats("features")
        XCTAssertFalse(f.isEmpty)
        XCTAssertTrue(f.allSatisfy(\.isFinite))
        let bench = try reidprune(["bench", "infer", "--weights", pruned, "--height", "64", "--width", "32", "--batch", "4",
                                   "--steps", "1", "--threads", "1", "--precision", "bf16", "--json"])
        XCTAssertTrue(bench.contains("\"precision\":\"bf16\""), bench)
    }

    /// Taylor scores come from bf16 gradients; both ranks must still cut the same network,
    /// which keeps training in bf16.
    func testTaylorRoundOnABF16TrainerCutsTheSameNetworkOnEveryRank() throws {
        try XCTSkipUnless(Precision.nativeBF16, needsNativeBF16)
        let lock = NSLock()
        nonisolated(unsafe) var sums: [Double] = []
        nonisolated(unsafe) var precisions: [Precision] = []
        try ThreadWorld(size: 2).run { rank, comm in
            let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true, numClasses: 6))
            let config = DataParallelTests.config(precision: .bf16)
            let batches = (0..<2).map { DataParallelTests.slice(DataParallelTests.globalBatch(step: $0), rank: rank, world: 2) }
            let trainer = try Trainer(net: net, source: FixedBatchSource(batches: batches, numClasses: 6), config: config,
                                      runDirectory: nil, comm: comm)
            for b in batches { try trainer.step(b) }
            let outcome = try DataParallelTests.taylorRound(net, trainer: trainer, batches: batches, comm: comm)
            try trainer.replaceNetwork(outcome.net)
            try trainer.step(batches[0])
            lock.lock()
            sums.append(trainer.net.store.checksum().weighted)
            precisions.append(trainer.net.precision)
            lock.unlock()
        }
        XCTAssertEqual(sums.count, 2)
        XCTAssertEqual(sums[0], sums[1], "the ranks' pruned, retrained networks differ")
        XCTAssertEqual(precisions, [.bf16, .bf16])
    }

    /// Without native bf16 the request fails in one line naming the option, before any work.
    func testWithoutNativeBF16TheOptionIsNamed() throws {
        let limited = ["DNNL_MAX_CPU_ISA": "AVX512_CORE"]
        let (status, out) = try ChildProcess.run([ChildProcess.reidprune, "bench", "infer", "--arch", "resnet18",
                                                  "--height", "64", "--width", "32", "--batch", "2", "--steps", "1",
                                                  "--precision", "bf16"], environment: limited)
        XCTAssertNotEqual(status, 0, out)
        let errors = out.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        XCTAssertEqual(errors.count, 1, out)
        XCTAssertTrue(errors.first?.contains("--precision: bf16 needs a CPU with native bfloat16") ?? false, out)
        let (okStatus, okOut) = try ChildProcess.run([ChildProcess.reidprune, "bench", "infer", "--arch", "resnet18",
                                                      "--height", "64", "--width", "32", "--batch", "2", "--steps", "1",
                                                      "--threads", "1", "--precision", "fp32"], environment: limited)
        XCTAssertEqual(okStatus, 0, "fp32 runs on any CPU:\n\(okOut)")
    }
}
