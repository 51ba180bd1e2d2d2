// Multi-process runs of the built executable under mpirun: 3 training steps with SyncBN
// on 2 and 3 ranks (oversubscribed) end with the parameters of 1 rank on the same global
// batch, with checksums compared at every step; a rank that dies ends the whole job
// within seconds, non-zero, naming the rank; a diverging run stops every rank at the
// same step with one line and writes nothing; an error every rank meets is printed once.
import Foundation
import Tensors
import NN
import TestSupport
import XCTest

final class MPILaunchTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipIf(Self.which("mpirun") == nil, "mpirun is not installed (launch/setup installs openmpi-bin)")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // SynthReID seed 5: data on which the three steps flip no discrete decision (a ReLU, a
        // max-pool, a hardest sample) between rank counts; on some data one is within rounding
        // of its threshold and moves parameters by 1e-4 or more. Here 2 and 3 ranks give 1e-6.
        let config = """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data:
              root: \(dir.path)/data
              synth: {domain: mall, ids: 12, cameras: 2, images_per_id: 6, seed: 5, height: 64, width: 32}
              height: 64
              width: 32
              identities: 6
              instances: 2
              workers: 1
            train: {epochs: 1, max_iterations: 3, optimizer: sgd, lr: 0.05, warmup_epochs: 0, schedule: constant, progress: false}
            distributed: {sync_bn: true, checksum_every: 1}
            eval: {batch_size: 32}
            """
        try config.write(to: dir.appendingPathComponent("tiny.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    static func which(_ tool: String) -> String? {
        for p in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        where FileManager.default.isExecutableFile(atPath: "\(p)/\(tool)") { return "\(p)/\(tool)" }
        return nil
    }

    static var executable: String { ChildProcess.reidprune }
    static var cleanEnvironment: [String: String] { ChildProcess.cleanEnvironment }

    static let mpiFlags = ["--allow-run-as-root", "--oversubscribe", "--mca", "pml", "ob1", "--bind-to", "none",
                           "-x", "OMP_NUM_THREADS=1"]

    /// Runs a command; returns (status, combined output).
    @discardableResult
    func run(_ args: [String]) throws -> (Int32, String) { try ChildProcess.run(args) }

    func train(ranks: Int, overrides: [String] = [], expect: String? = nil) throws -> [String: [Float]] {
        let runDir = dir.appendingPathComponent("run\(ranks)\(overrides.joined())").path
        let cmd = [Self.executable, "train", "--config", dir.appendingPathComponent("tiny.yaml").path, "run.dir=\(runDir)"]
            + overrides
        let (status, out) = ranks == 1 ? try run(cmd)
            : try run([Self.which("mpirun")!] + Self.mpiFlags + ["-np", "\(ranks)"] + cmd)
        XCTAssertEqual(status, 0, "\(ranks) ranks failed:\n\(out)")
        if ranks > 1 { XCTAssertTrue(out.contains("\(ranks) ranks, global batch 12"), out) }
        if let expect { XCTAssertTrue(out.contains(expect), out) }
        let file = try SafetensorsFile(path: runDir + "/model.safetensors")
        var tensors: [String: [Float]] = [:]
        for name in file.names { tensors[name] = try file.floats(name) }
        return tensors
    }

    func testTwoAndThreeRanksMatchOneRank() throws {
        let one = try train(ranks: 1)
        for ranks in [2, 3] {
            let many = try train(ranks: ranks)
            XCTAssertEqual(Set(many.keys), Set(one.keys))
            let a = one.keys.sorted().flatMap { one[$0]! }, b = one.keys.sorted().flatMap { many[$0]! }
            XCTAssertLessThanOrEqual(relativeError(b, a), 1e-5, "\(ranks) ranks vs 1")
        }
    }

    /// Gradients sent in bf16 through Open MPI's reduction with the bf16 sum: the replicas
    /// stay identical (checksums compared at every step, else the run stops), and the run
    /// stays near one rank's fp32 run. Three steps at lr 0.05 amplify the rounding (measured
    /// 2.7e-3 on 2 ranks, 5.5e-3 on 3; the one-step bound is DataParallelTests'). Overlapped
    /// sync, which starts the bf16 sums during backward, ends where blocking sync does.
    func testBF16GradientsOnTwoAndThreeRanksKeepReplicasIdentical() throws {
        let one = try train(ranks: 1)
        let names = one.keys.sorted(), a = names.flatMap { one[$0]! }
        for ranks in [2, 3] {
            let many = try train(ranks: ranks, overrides: ["distributed.gradient_precision=bf16"],
                                 expect: "gradient sync blocking in bf16")
            let b = names.flatMap { many[$0]! }
            let error = relativeError(b, a)
            XCTAssertLessThanOrEqual(error, 2e-2, "\(ranks) ranks with bf16 gradients vs 1")
            XCTAssertGreaterThan(error, 1e-5, "\(ranks) ranks: the gradients were not rounded to bf16")
            if ranks == 2 {
                // Overlapped sync starts each bucket's bf16 sum during backward; on 2 ranks every
                // element is one rounded addition whatever the algorithm, so the runs agree bit for bit.
                let overlapped = try train(ranks: 2, overrides: ["distributed.gradient_precision=bf16",
                                                                 "distributed.sync_mode=overlapped"],
                                           expect: "gradient sync overlapped in bf16")
                XCTAssertEqual(names.flatMap { overlapped[$0]! }.map(\.bitPattern), b.map(\.bitPattern), "overlapped vs blocking")
            }
        }
    }

    func testPruningOnTwoAndThreeRanksGivesIdenticalPlans() throws {
        _ = try train(ranks: 1)
        let weights = dir.appendingPathComponent("run1/model.safetensors").path
        var plans: [Data] = []
        for ranks in [1, 2, 3] {
            let out = dir.appendingPathComponent("pruned\(ranks)").path
            let cmd = [Self.executable, "prune", "--config", dir.appendingPathComponent("tiny.yaml").path,
                       "--weights", weights, "--criterion", "taylor", "--batches", "3", "--target-flops", "0.6",
                       "--out", out + ".safetensors", "--plan", out + ".json"]
            let (status, text) = ranks == 1 ? try run(cmd)
                : try run([Self.which("mpirun")!] + Self.mpiFlags + ["-np", "\(ranks)"] + cmd)
            XCTAssertEqual(status, 0, "\(ranks) ranks:\n\(text)")
            plans.append(try Data(contentsOf: URL(fileURLWithPath: out + ".json")))
        }
        XCTAssertEqual(plans[1], plans[2], "2 and 3 ranks decide byte-identical plans")
        XCTAssertEqual(plans[0], plans[1], "and the same as one rank over the same global batches")
        let cut = try SafetensorsFile(path: dir.appendingPathComponent("pruned3.safetensors").path)
        XCTAssertNotNil(cut.metadata["reidprune.pruning_history"])
    }

    func testMiniatureScenarioOnTwoRanks() throws {
        let d = dir.path
        let recipe = """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data: {height: 64, width: 32, identities: 6, instances: 2, workers: 1}
            train: {optimizer: sgd, lr: 0.05, warmup_epochs: 0, schedule: constant, progress: false}
            prune: {batches: 2}
            scenario:
              source: {root: \(d)/src, synth: {domain: campus, ids: 16, cameras: 2, images_per_id: 6, seed: 8, height: 64, width: 32}}
              targets:
                - {root: \(d)/tgt, synth: {domain: mall, ids: 12, cameras: 2, images_per_id: 6, seed: 9, height: 64, width: 32}}
                - {root: \(d)/tgt2, synth: {domain: street, ids: 12, cameras: 2, images_per_id: 6, seed: 10, height: 64, width: 32}}
              source_epochs: 1
              target_epochs: 1
              retrain_epochs: 1
              criteria: [taylor, l1]
              baselines: [resnet18, resnet34]
              target_flops: 0.5
              dir: \(d)/scenario
            """
        let config = dir.appendingPathComponent("scenario.yaml").path
        try recipe.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, out) = try run([Self.which("mpirun")!] + Self.mpiFlags + ["-np", "2", Self.executable, "scenario",
                                                                             "--config", config])
        XCTAssertEqual(status, 0, out)
        struct Doc: Decodable {
            struct Row: Decodable {
                let scenario: String, method: String, stage: String, params: Int, gflops: Double
                let rank1: [String: Double], mAP: [String: Double]
            }
            let synthetic: Bool
            let rows: [Row]
        }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(contentsOf: URL(fileURLWithPath: d + "/scenario/report.json")))
        XCTAssertTrue(doc.synthetic)
        XCTAssertEqual(doc.rows.count, 2 + 2 * 4, "two baselines, four scenarios per criterion")
        XCTAssertEqual(Set(doc.rows.map(\.scenario)), ["baseline", "1", "2", "3", "4"])
        let report = try String(contentsOfFile: d + "/scenario/report.md", encoding: .utf8)
        XCTAssertTrue(report.contains("Synthetic data"))
        for plot in ["rank1_vs_gflops", "map_vs_gflops", "rank1_vs_params", "map_vs_params", "rank1_vs_latency"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: d + "/scenario/\(plot).svg"), plot)
        }
        let page = try String(contentsOfFile: d + "/scenario/report.html", encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "<svg").count - 1, 5)
        XCTAssertTrue(page.contains("Synthetic data"))
        let full = FLOPsCounter.count(.resnet(.resnet18, baseWidth: 4, lastStride: 1), height: 64, width: 32).flops
        for row in doc.rows {
            let model = d + "/scenario/\(row.stage)/model.safetensors"
            let net = try ModelWeights.loadNet(model)
            let cost = FLOPsCounter.count(net.architecture, head: net.headConfig, height: 64, width: 32)
            XCTAssertEqual(row.gflops, Double(cost.flops) / 1e9, accuracy: 1e-12, row.stage)
            XCTAssertEqual(row.params, cost.params, row.stage)
            XCTAssertEqual(Set(row.rank1.keys), ["synthreid-mall", "synthreid-street"])
            if row.scenario != "baseline" { XCTAssertLessThanOrEqual(Double(cost.flops), 0.5 * Double(full) * 1.0001, row.stage) }
        }
        // The report's metrics equal a separate extraction and evaluation of the same weights;
        // without --height/--width, extraction takes the size the model file records (64x32).
        let row = doc.rows.first { $0.stage == "s3-taylor" }!
        let weights = d + "/scenario/s3-taylor/model.safetensors"
        for (split, size) in [("query", [String]()), ("gallery", ["--height", "64", "--width", "32"])] {
            let (s, o) = try run([Self.executable, "extract", "--weights", weights, "--data", d + "/tgt", "--split", split,
                                  "--out", d + "/\(split).safetensors"] + size)
            XCTAssertEqual(s, 0, o)
            XCTAssertFalse(o.contains("warning"), o)
        }
        let (sw, ow) = try run([Self.executable, "extract", "--weights", weights, "--data", d + "/tgt", "--split", "query",
                                "--height", "128", "--out", d + "/other.safetensors"])
        XCTAssertEqual(sw, 0, ow)
        XCTAssertTrue(ow.contains("warning: \(weights) was trained at 64x32; its features at 128x32 will not be those"), ow)
        let (s, o) = try run([Self.executable, "evaluate", "--query", d + "/query.safetensors", "--gallery",
                              d + "/gallery.safetensors", "--json"])
        XCTAssertEqual(s, 0, o)
        let m = try JSONSerialization.jsonObject(with: Data(o.utf8)) as! [String: Any]
        XCTAssertEqual(m["rank1"] as! Double, row.rank1["synthreid-mall"]!, accuracy: 1e-9)
        XCTAssertEqual(m["mAP"] as! Double, row.mAP["synthreid-mall"]!, accuracy: 1e-6)
    }

    /// The study's protocol in miniature on 2 ranks: iterative rounds (a quarter of the
    /// prunable channels per step until half are gone) for L1, soft filter pruning and
    /// auto-balanced training before one cut, scenario 4 "not applicable" for the latter two.
    func testMiniatureIterativeScenarioWithSoftFilterAndAutoBalancedOnTwoRanks() throws {
        let d = dir.path
        let recipe = """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data: {height: 64, width: 32, identities: 6, instances: 2, workers: 1}
            train: {optimizer: sgd, lr: 0.05, warmup_epochs: 0, schedule: constant, progress: false}
            prune: {per_step: {channels: 0.25}, stop: {channels: 0.5}, retrain_epochs: 1, final_epochs: 1, batches: 2, evaluate: false}
            eval: {batch_size: 32}
            scenario:
              source: {root: \(d)/src, synth: {domain: campus, ids: 16, cameras: 2, images_per_id: 6, seed: 8, height: 64, width: 32}}
              targets:
                - {root: \(d)/tgt, synth: {domain: mall, ids: 12, cameras: 2, images_per_id: 6, seed: 9, height: 64, width: 32}}
              source_epochs: 1
              target_epochs: 1
              retrain_epochs: 1
              criteria: [l1, soft_filter, auto_balanced]
              scenarios: [1, 4]
              dir: \(d)/iterative
            """
        let config = dir.appendingPathComponent("iterative.yaml").path
        try recipe.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, out) = try run([Self.which("mpirun")!] + Self.mpiFlags + ["-np", "2", Self.executable, "scenario",
                                                                             "--config", config])
        XCTAssertEqual(status, 0, out)
        struct Doc: Decodable {
            struct Row: Decodable { let scenario: String, method: String, stage: String, note: String? }
            let rows: [Row]
        }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(contentsOf: URL(fileURLWithPath: d + "/iterative/report.json")))
        XCTAssertEqual(Set(doc.rows.map { "\($0.scenario) \($0.method) \($0.note ?? "-")" }),
                       ["1 l1 -", "1 soft_filter -", "1 auto_balanced -", "4 l1 -", "4 soft_filter not applicable",
                        "4 auto_balanced not applicable"])
        let report = try String(contentsOfFile: d + "/iterative/report.md", encoding: .utf8)
        XCTAssertTrue(report.contains("| 4 | soft_filter | not applicable |"), report)
        // Inner groups of this ResNet-18: one per block, 2 x (4 + 8 + 16 + 32) = 120 channels; a quarter is 30.
        func rounds(_ stage: String) throws -> [[String: Any]] {
            let text = try String(contentsOfFile: d + "/iterative/\(stage)/metrics.jsonl", encoding: .utf8)
            return text.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }.filter { $0["event"] as? String == "prune" }
        }
        func inner(_ widths: Any?) -> Int {
            (widths as! [String: Int]).filter { $0.key.hasSuffix(".conv1") && $0.key.hasPrefix("layer") }.values.reduce(0, +)
        }
        let l1 = try rounds("s1-l1-source-prune")
        XCTAssertEqual(l1.count, 2, "two steps of a quarter")
        XCTAssertEqual(l1.map { $0["epoch"] as! Int }, [0, 1])
        XCTAssertEqual(inner(l1[0]["channels_before"]), 120)
        XCTAssertEqual(inner(l1[0]["channels"]), 90)
        XCTAssertEqual(inner(l1[1]["channels"]), 60)
        XCTAssertEqual(l1[0]["ranking"] as? String, "layerwise/none/inner", "l1 ranks as Li et al.")
        for kind in ["soft_filter", "auto_balanced"] {
            let r = try rounds("s1-\(kind)-source-prune")
            XCTAssertEqual(r.count, 1, "\(kind): one cut after training with the criterion")
            XCTAssertEqual(r.first?["epoch"] as? Int, 1, kind)
            XCTAssertEqual(inner(r.first?["channels"]), 60, kind)
        }
    }

    func testKilledRankEndsTheJobNamingIt() throws {
        let runDir = dir.appendingPathComponent("killed").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.which("mpirun")!)
        p.environment = Self.cleanEnvironment
        p.arguments = Self.mpiFlags + ["-np", "2", Self.executable, "train", "--config",
                                       dir.appendingPathComponent("tiny.yaml").path, "run.dir=\(runDir)",
                                       "train.max_iterations=0", "train.epochs=100000"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        // Wait for training to run, then kill rank 1.
        var victim: Int32?
        let deadline = Date().addingTimeInterval(60)
        while victim == nil && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            if let log = try? String(contentsOfFile: runDir + "/metrics.jsonl", encoding: .utf8), log.contains("\"epoch\"") {
                victim = Self.rankProcess(rank: 1, marker: runDir)
            }
        }
        guard let victim else {
            p.terminate()
            XCTFail("training did not start")
            return
        }
        kill(victim, SIGKILL)
        let killed = Date()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { p.waitUntilExit(); done.signal() }
        if done.wait(timeout: .now() + 30) == .timedOut {
            p.terminate()
            XCTFail("the job hung after rank 1 died")
            return
        }
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertLessThan(Date().timeIntervalSince(killed), 15)
        XCTAssertTrue(out.contains("rank 1"), "the launcher names the rank:\n\(out.suffix(1500))")
    }

    func testDivergingRunStopsTheJobWithOneLineAndWritesNothing() throws {
        let runDir = dir.appendingPathComponent("diverged").path
        let (status, out) = try run([Self.which("mpirun")!] + Self.mpiFlags + ["-np", "2", Self.executable, "train", "--config",
                                    dir.appendingPathComponent("tiny.yaml").path, "run.dir=\(runDir)", "train.lr=1e6"])
        XCTAssertNotEqual(status, 0, out)
        // Every rank decides alike from the summed loss and gradients: the line comes once.
        XCTAssertEqual(out.components(separatedBy: "Error: training stopped at epoch 1, iteration ").count, 2, out)
        XCTAssertFalse(out.contains("of 2 failed") || out.contains("MPI_ABORT"), out)
        XCTAssertFalse(out.contains("Fatal error"), out)
        for name in ["checkpoint.safetensors", "model.safetensors"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: runDir + "/" + name), name)
        }
    }

    /// An error every rank meets alike (a recipe override, a command-line value, a missing
    /// data folder, a model file that is not one) is printed once, by the root, with no
    /// abort: not once per rank.
    func testErrorsEveryRankMeetsArePrintedOnce() throws {
        let tiny = dir.appendingPathComponent("tiny.yaml").path
        let garbage = dir.appendingPathComponent("garbage.safetensors").path
        try Data(repeating: 7, count: 64).write(to: URL(fileURLWithPath: garbage))
        let cases: [([String], String)] = [
            (["train", "--config", tiny, "run.dir=\(dir.path)/r", "train.bogus=1"], "override 'train.bogus=1': unknown key"),
            (["bench", "allreduce", "--repeats", "0"], "--repeats must be at least 1, got 0 (see --help)"),
            (["extract", "--weights", garbage, "--data", dir.path + "/none", "--split", "query", "--out", dir.path + "/q.safetensors"],
             garbage + ": "),
            (["bench", "infer", "--arch", "resnet18", "--height", "64", "--width", "32", "--batch", "2", "--steps", "1",
              "--precision", "fp8"], "--precision must be fp32 or bf16, got 'fp8'"),
        ]
        for (args, message) in cases {
            let (status, out) = try run([Self.which("mpirun")!] + Self.mpiFlags + ["-np", "2", Self.executable] + args)
            XCTAssertNotEqual(status, 0, out)
            let errors = out.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
            XCTAssertEqual(errors.count, 1, "\(args):\n\(out)")
            XCTAssertTrue(errors.first?.contains(message) ?? false, "\(args):\n\(out)")
            XCTAssertFalse(out.contains("of 2 failed") || out.contains("MPI_ABORT"), "\(args):\n\(out)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path + "/q.safetensors"))
    }

    /// The PID of the process of `rank` whose command line mentions `marker`.
    static func rankProcess(rank: Int, marker: String) -> Int32? {
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for pid in pids.compactMap({ Int32($0) }) {
            guard let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmd, as: UTF8.self).contains(marker),
                  String(decoding: cmd, as: UTF8.self).contains("reidprune"),
                  let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if String(decoding: env, as: UTF8.self).split(separator: "\0").contains("OMPI_COMM_WORLD_RANK=\(rank)") {
                return pid
            }
        }
        return nil
    }
}
