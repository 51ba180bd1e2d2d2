// A classification run under mpirun: a tiny image-folder data set (class folders of
// JPEGs), the global sampler, SyncBN; 3 steps on 2 ranks end with the parameters and BN
// statistics of 1 rank on the same global batches, and the same top-1/top-5 counts on
// val (each rank its slice). From WebDataset shards, each rank streams its own shards (so
// the batches differ from 1 rank's); what is equal there is the evaluation: 2 ranks on
// the val shards count what 1 rank counts on the val folder, a resume on another rank
// count is refused, and fewer training shards than ranks is one error line.
import Foundation
import NN
import ReIDData
import Tensors
import TestSupport
import XCTest

final class ClassificationMPITests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipIf(MPILaunchTests.which("mpirun") == nil, "mpirun is not installed (launch/setup installs openmpi-bin)")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-cls-mpi-\(UUID().uuidString)")
        let codec = ImageCodec()
        for (split, count) in [("train", 6), ("val", 2)] {
            for c in 0..<4 {
                let folder = dir.appendingPathComponent("data/\(split)/class\(c)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for i in 0..<count {
                    let (w, h) = (40 + (i * 7) % 19, 36 + (i * 5) % 13)
                    var pixels = [UInt8](repeating: 0, count: w * h * 3)
                    for y in 0..<h {
                        for x in 0..<w {
                            let p = (y * w + x) * 3
                            pixels[p + c % 3] = UInt8((60 + 40 * c + x * 3 + i * 11) % 256)
                            pixels[p + (c + 1) % 3] = UInt8((y * 5 + i * 17) % 256)
                        }
                    }
                    try codec.encodeJPEG(RGBImage(width: w, height: h, pixels: pixels), quality: 90)
                        .write(to: folder.appendingPathComponent("\(split)_\(i).jpg"))
                }
            }
        }
        let recipe = """
            task: classification
            model: {arch: resnet18, base_width: 4}
            data:
              root: \(dir.path)/data
              batch_size: 8
              workers: 1
              transform: {size: 32, resize: 36}
            train: {epochs: 1, max_iterations: 3, progress: false, log_every: 1}
            distributed: {sync_bn: true, checksum_every: 1}
            eval: {batch_size: 3}
            """
        try recipe.write(to: dir.appendingPathComponent("cls.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func mpi(_ ranks: Int, _ cmd: [String]) throws -> (Int32, String) {
        ranks == 1 ? try ChildProcess.run(cmd)
            : try ChildProcess.run([MPILaunchTests.which("mpirun")!] + MPILaunchTests.mpiFlags + ["-np", "\(ranks)"] + cmd)
    }

    func train(ranks: Int) throws -> (tensors: [String: [Float]], results: [String: Any]) {
        let runDir = dir.appendingPathComponent("run\(ranks)").path
        let cmd = [MPILaunchTests.executable, "train", "--config", dir.appendingPathComponent("cls.yaml").path, "run.dir=\(runDir)"]
        let (status, out) = ranks == 1 ? try ChildProcess.run(cmd)
            : try ChildProcess.run([MPILaunchTests.which("mpirun")!] + MPILaunchTests.mpiFlags + ["-np", "\(ranks)"] + cmd)
        XCTAssertEqual(status, 0, "\(ranks) ranks failed:\n\(out)")
        XCTAssertTrue(out.contains("\(ranks) rank(s), global batch 8, \(8 / ranks) images per rank, lr 0.003125"), out)
        XCTAssertTrue(out.contains("final: top-1"), out)
        let file = try SafetensorsFile(path: runDir + "/model.safetensors")
        var tensors: [String: [Float]] = [:]
        for name in file.names { tensors[name] = try file.floats(name) }
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runDir + "/results.json")))
        return (tensors, results as! [String: Any])
    }

    func testTwoRanksWithTheGlobalSamplerMatchOneRank() throws {
        let one = try train(ranks: 1), two = try train(ranks: 2)
        XCTAssertEqual(Set(two.tensors.keys), Set(one.tensors.keys))
        XCTAssertEqual(one.tensors["fc.weight"]?.count, 4 * 32)
        let a = one.tensors.keys.sorted().flatMap { one.tensors[$0]! }, b = one.tensors.keys.sorted().flatMap { two.tensors[$0]! }
        XCTAssertLessThanOrEqual(relativeError(b, a), 1e-5)
        for key in ["task", "top1", "top5", "images"] {
            XCTAssertEqual("\(one.results[key] ?? "missing")", "\(two.results[key] ?? "missing")", key)
        }
        XCTAssertEqual(one.results["images"] as? Int, 8)
        XCTAssertEqual(one.results["task"] as? String, "classification")
    }

    func testShardsTrainPerRankAndEvaluateAsTheFolder() throws {
        let exe = MPILaunchTests.executable, recipe = dir.appendingPathComponent("cls.yaml").path
        let shards = dir.appendingPathComponent("shards").path
        for split in ["train", "val"] {
            let (status, out) = try ChildProcess.run([exe, "shards", "--data", dir.path + "/data", "--split", split, "--out", shards,
                                                      "--images-per-shard", "4"])
            XCTAssertEqual(status, 0, out)
        }
        let runDir = dir.appendingPathComponent("shardrun").path
        var (status, out) = try mpi(2, [exe, "train", "--config", recipe, "data.root=\(shards)", "run.dir=\(runDir)",
                                        "train.checkpoint_iterations=2"])
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("(webdataset)") && out.contains("final: top-1"), out)
        let model = runDir + "/model.safetensors"
        let evalShards = try mpi(2, [exe, "eval", "--config", recipe, "--weights", model, "data.root=\(shards)", "--json"])
        let evalFolder = try mpi(1, [exe, "eval", "--config", recipe, "--weights", model, "--json"])
        XCTAssertEqual(evalShards.0, 0, evalShards.1)
        XCTAssertEqual(evalFolder.0, 0, evalFolder.1)
        // The JSON line; a rank's or Open MPI's stderr line may come after it.
        let last = { (text: String) in text.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? "" }
        XCTAssertEqual(last(evalShards.1), last(evalFolder.1))
        XCTAssertTrue(last(evalFolder.1).contains("\"images\":8"), evalFolder.1)
        // A run over shards resumes only on the rank count it was trained on.
        (status, out) = try mpi(1, [exe, "train", "--config", recipe, "data.root=\(shards)", "run.dir=\(runDir)",
                                    "train.checkpoint_iterations=2", "train.epochs=2", "train.max_iterations=4"])
        XCTAssertNotEqual(status, 0, out)
        XCTAssertTrue(out.contains("the rank count changed (2 -> 1)"), out)
        // Fewer training shards than ranks: every rank finds it, the root says it once.
        let one = dir.appendingPathComponent("one-shard").path
        for split in ["train", "val"] {
            let (s, o) = try ChildProcess.run([exe, "shards", "--data", dir.path + "/data", "--split", split, "--out", one,
                                               "--images-per-shard", "100"])
            XCTAssertEqual(s, 0, o)
        }
        // launch/train's check finds it before the ranks start.
        (status, out) = try mpi(1, [exe, "train", "--config", recipe, "data.root=\(one)", "--check", "--ranks", "2"])
        XCTAssertEqual(status, 1, out)
        XCTAssertTrue(out.hasPrefix("Error: \(one): 1 training shards for 2 ranks"), out)
        (status, out) = try mpi(2, [exe, "train", "--config", recipe, "data.root=\(one)", "run.dir=\(dir.path)/one-run"])
        XCTAssertNotEqual(status, 0, out)
        let lines = out.split(separator: "\n").filter { $0.contains("training shards for 2 ranks") }
        XCTAssertEqual(lines.count, 1, out)
        XCTAssertTrue(lines.first?.hasPrefix("Error: \(one): 1 training shards for 2 ranks") ?? false, out)
        XCTAssertFalse(out.contains("failed:"), out)
        // A file that is not a model, which every rank reads: said once.
        (status, out) = try mpi(2, [exe, "eval", "--config", recipe, "--weights", recipe])
        XCTAssertNotEqual(status, 0, out)
        XCTAssertEqual(out.components(separatedBy: "Error: \(recipe): ").count, 2, out)
        XCTAssertFalse(out.contains("failed:"), out)
    }
}
