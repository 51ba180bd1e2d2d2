// Multi-host runs on cluster/sim (network namespaces host1..host3 on a bridge, one machine):
// 3 ranks on 3 hosts train and prune a tiny recipe to the parameters and plan of 1 rank on
// the same global batch; a rank killed on a remote host, a killed remote daemon and a
// host whose link goes down each end the job within seconds, non-zero, leaving nothing
// running and a checkpoint that loads (the killed rank's run resumes on the 2 hosts left);
// a rank stopped with its link up trips the collective watchdog, which names it and its
// host; a miniature pruning scenario runs across 2 hosts. Needs root; skipped otherwise.
import Foundation
import Tensors
import TestSupport
import XCTest

final class SimulatedClusterTests: XCTestCase {
    /// The repository's root (this file is Tests/DistributedTests/SimulatedClusterTests.swift).
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let hosts = ["host1", "host2", "host3"]
    /// Why the cluster could not be brought up (nil once it is up).
    nonisolated(unsafe) static var unavailable: String? = "the simulated cluster was not brought up"
    var dir: URL!

    override class func setUp() {
        super.setUp()
        guard getuid() == 0 else {
            unavailable = "cluster/sim needs root (network namespaces); run the tests as root"
            return
        }
        // A throwaway namespace tells whether this machine lets us make them at all.
        let probe = "rpsim-probe-\(getpid())"
        guard let (made, _) = try? ChildProcess.run(["/usr/sbin/ip", "netns", "add", probe]), made == 0 else {
            unavailable = "'ip netns add' fails here (no CAP_SYS_ADMIN, or no iproute2)"
            return
        }
        _ = try? ChildProcess.run(["/usr/sbin/ip", "netns", "del", probe])
        let (status, output) = (try? ChildProcess.run([repo + "/cluster/sim/up", "\(hosts.count)"])) ?? (-1, "not run")
        unavailable = status == 0 ? nil : "cluster/sim/up \(hosts.count) failed:\n\(output)"
    }

    override class func tearDown() {
        if getuid() == 0 { _ = try? ChildProcess.run([repo + "/cluster/sim/down"]) }
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let why = Self.unavailable { throw XCTSkip(why) }
        // Under /tmp: every namespace shares the file system, so every rank sees the run folder.
        dir = URL(fileURLWithPath: "/tmp/reidprune-simtest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
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
            prune: {criterion: l1, target_flops: 0.7, steps: 1, start_epoch: 0, evaluate: false}
            eval: {batch_size: 32}
            """
        try config.write(to: dir.appendingPathComponent("tiny.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        // Whatever a test left behind in the namespaces goes, so the next test starts clean.
        for host in Self.hosts { Self.killAll(in: host) }
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    var config: String { dir.appendingPathComponent("tiny.yaml").path }

    /// cluster/sim/run with 3 ranks, one per host, each printing its rank, network namespace
    /// and hostname before it becomes `reidprune` with `args`.
    func simRun(_ args: [String], ranks: Int = 3, hosts: String? = nil) -> [String] {
        [Self.repo + "/cluster/sim/run", "-np", "\(ranks)"] + (hosts.map { ["--host", $0] } ?? []) + [
         "--map-by", "node", "-x", "OMP_NUM_THREADS=1", "/bin/sh", "-c",
         "echo \"rank $OMPI_COMM_WORLD_RANK: netns $(ip netns identify $$), hostname $(hostname)\"; exec \"$@\"",
         "sh", ChildProcess.reidprune] + args
    }

    func testThreeRanksOnThreeHostsMatchOneRank() throws {
        let one = dir.appendingPathComponent("run1").path, three = dir.appendingPathComponent("run3").path
        let (s1, o1) = try ChildProcess.run([ChildProcess.reidprune, "train", "--config", config, "run.dir=\(one)"])
        XCTAssertEqual(s1, 0, o1)
        let (s3, o3) = try ChildProcess.run(simRun(["train", "--config", config, "run.dir=\(three)"]))
        XCTAssertEqual(s3, 0, o3)
        XCTAssertTrue(o3.contains("3 ranks, global batch 12"), o3)
        for (rank, host) in Self.hosts.enumerated() {
            XCTAssertTrue(o3.contains("rank \(rank): netns \(host), hostname \(host)"), "rank \(rank) on \(host):\n\(o3)")
        }
        for out in [o1, o3] { XCTAssertTrue(out.contains("pruning round 1 (l1"), out) }
        let a = try SafetensorsFile(path: one + "/model.safetensors"), b = try SafetensorsFile(path: three + "/model.safetensors")
        XCTAssertEqual(a.names.sorted(), b.names.sorted())
        XCTAssertEqual(a.metadata["reidprune.pruning_history"], b.metadata["reidprune.pruning_history"], "the same plan")
        XCTAssertNotNil(a.metadata["reidprune.pruning_history"])
        for name in a.names { XCTAssertEqual(a.entry(name)?.shape, b.entry(name)?.shape, "\(name): the same architecture") }
        let names = a.names.sorted()
        let wa = try names.flatMap { try a.floats($0) }, wb = try names.flatMap { try b.floats($0) }
        // Sums in another order (allreduce over 3 hosts, SyncBN) leave about 1e-5 after the
        // steps and the cut (1.15e-5 measured with layer-wise L1, the criterion's default);
        // a rank averaging the wrong gradients or applying another plan is off by 1e-2 or more.
        XCTAssertLessThanOrEqual(relativeError(wb, wa), 2e-5, "3 ranks on 3 hosts vs 1 rank")
    }

    func testKilledRemoteRankEndsTheJob() throws {
        let (status, out, seconds) = try trainAndBreak { runDir in
            let pid = try XCTUnwrap(Self.rankProcess(rank: 1, marker: runDir), "rank 1 not found")
            XCTAssertEqual(Self.namespace(of: pid), "host2", "rank 1 runs on host2")
            kill(pid, SIGKILL)
        }
        XCTAssertNotEqual(status, 0, out)
        XCTAssertLessThan(seconds, 15, out)
        XCTAssertTrue(out.contains("rank 1") && out.contains("host2"), "names the rank and host:\n\(out.suffix(1500))")
        // host2 is gone: the run goes on from its last checkpoint on host1 and host3, two more steps.
        let runDir = dir.appendingPathComponent("endless").path
        let file = try SafetensorsFile(path: runDir + "/checkpoint.safetensors")
        let state = try XCTUnwrap(file.metadata["reidprune.training_state"])
        let saved = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(state.utf8)) as? [String: Any])?["iteration"] as? Int)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(state.utf8)) as? [String: Any])?["ranks"] as? Int, 3)
        let (s2, o2) = try ChildProcess.run(simRun(["train", "--config", config, "run.dir=\(runDir)", "train.epochs=100000",
                                                    "train.max_iterations=\(saved + 2)", "train.checkpoint_iterations=2"],
                                                   ranks: 2, hosts: "host1,host3"))
        XCTAssertEqual(s2, 0, o2)
        XCTAssertTrue(o2.contains("ranks (3 -> 2)"), o2)
        XCTAssertTrue(o2.contains("rank 1: netns host3"), o2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: runDir + "/model.safetensors"), o2)
    }

    func testStoppedRankTripsTheCollectiveWatchdog() throws {
        let (status, out, seconds) = try trainAndBreak(["distributed.timeout_s=3"]) { runDir in
            let pid = try XCTUnwrap(Self.rankProcess(rank: 1, marker: runDir), "rank 1 not found")
            XCTAssertEqual(Self.namespace(of: pid), "host2", "rank 1 runs on host2")
            // Stopped, the rank keeps its connections (and its host its daemon and link): only
            // the watchdog can tell that it never arrives.
            kill(pid, SIGSTOP)
        }
        XCTAssertNotEqual(status, 0, out)
        XCTAssertLessThan(seconds, 15, out)
        XCTAssertTrue(out.contains("collective watchdog: rank "), out)
        // The watchdog polls: a descheduled poll may report the wait rounded up a second.
        XCTAssertTrue(["3", "4"].contains { out.contains("waited \($0) s (distributed.timeout_s: 3) in collective #") }, out)
        XCTAssertTrue(out.contains("did not arrive: rank 1 on host2 (no answer"), "names the rank and host:\n\(out.suffix(2000))")
        // The stop lands wherever rank 1 is: in a step, after it, or at an epoch's end.
        XCTAssertTrue(["during training step ", "during after training step ", "during after epoch "].contains(where: out.contains),
                      out)
    }

    func testMiniatureScenarioOnTwoHosts() throws {
        let d = dir.path
        let recipe = """
            model: {arch: resnet18, base_width: 4, last_stride: 1}
            data: {height: 64, width: 32, identities: 6, instances: 2, workers: 1}
            train: {optimizer: sgd, lr: 0.05, warmup_epochs: 0, schedule: constant, progress: false}
            distributed: {sync_bn: true}
            prune: {batches: 2}
            scenario:
              source: {root: \(d)/src, synth: {domain: campus, ids: 12, cameras: 2, images_per_id: 4, seed: 8, height: 64, width: 32}}
              targets:
                - {root: \(d)/tgt, synth: {domain: mall, ids: 12, cameras: 2, images_per_id: 4, seed: 9, height: 64, width: 32}}
              source_epochs: 1
              target_epochs: 1
              retrain_epochs: 1
              criteria: [l1]
              baselines: [resnet18]
              target_flops: 0.5
              dir: \(d)/scenario
            """
        let config = dir.appendingPathComponent("scenario.yaml").path
        try recipe.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, out) = try ChildProcess.run(simRun(["scenario", "--config", config], ranks: 2, hosts: "host1,host2"))
        XCTAssertEqual(status, 0, out)
        for (rank, host) in ["host1", "host2"].enumerated() {
            XCTAssertTrue(out.contains("rank \(rank): netns \(host), hostname \(host)"), out)
        }
        XCTAssertTrue(out.contains("2 ranks, global batch 12"), out)
        struct Doc: Decodable {
            struct Row: Decodable { let scenario: String, stage: String, gflops: Double, rank1: [String: Double] }
            let synthetic: Bool
            let rows: [Row]
        }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(contentsOf: URL(fileURLWithPath: d + "/scenario/report.json")))
        XCTAssertTrue(doc.synthetic)
        XCTAssertEqual(Set(doc.rows.map(\.scenario)), ["baseline", "1", "2", "3", "4"])
        let baseline = try XCTUnwrap(doc.rows.first { $0.scenario == "baseline" })
        for row in doc.rows where row.scenario != "baseline" {
            XCTAssertLessThanOrEqual(row.gflops, 0.5 * baseline.gflops * 1.0001, row.stage)
            XCTAssertEqual(Set(row.rank1.keys), ["synthreid-mall"], row.stage)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: d + "/scenario/report.html"))
    }

    func testKilledRemoteDaemonEndsTheJob() throws {
        let (status, out, seconds) = try trainAndBreak { _ in
            let orted = Self.pids(in: "host2").filter { Self.command(of: $0) == "orted" }
            XCTAssertEqual(orted.count, 1, "one orted on host2")
            for pid in orted { kill(pid, SIGKILL) }
        }
        XCTAssertNotEqual(status, 0, out)
        XCTAssertLessThan(seconds, 15, out)
        XCTAssertTrue(out.contains("lost communication"), out)
        try assertCheckpointLoads()
    }

    func testLinkDownEndsTheJob() throws {
        defer { _ = try? ChildProcess.run(["/usr/sbin/ip", "-n", "host2", "link", "set", "eth0", "up"]) }
        let (status, out, seconds) = try trainAndBreak { _ in
            let (s, o) = try ChildProcess.run(["/usr/sbin/ip", "-n", "host2", "link", "set", "eth0", "down"])
            XCTAssertEqual(s, 0, o)
        }
        XCTAssertNotEqual(status, 0, out)
        XCTAssertLessThan(seconds, 15, out)
        XCTAssertTrue(out.contains("lost communication"), out)
        try assertCheckpointLoads()
    }

    /// Starts an endless 3-host training run (a checkpoint every 2 iterations, `extra`
    /// settings), applies `fault` once an epoch has ended, and
    /// returns the job's status, output and the seconds from the fault to its end. Fails
    /// if anything is still running in a namespace a few seconds after the job ended.
    func trainAndBreak(_ extra: [String] = [], _ fault: (String) throws -> Void) throws -> (Int32, String, Double) {
        let runDir = dir.appendingPathComponent("endless").path
        let args = simRun(["train", "--config", config, "run.dir=\(runDir)", "train.max_iterations=0", "train.epochs=100000",
                           "train.checkpoint_iterations=2"] + extra)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        p.environment = ChildProcess.cleanEnvironment
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        let output = OutputBox()
        let drained = DispatchSemaphore(value: 0)
        try p.run()
        DispatchQueue.global().async {
            output.set(pipe.fileHandleForReading.readDataToEndOfFile())
            drained.signal()
        }
        let deadline = Date().addingTimeInterval(60)
        var running = false
        while !running && Date() < deadline && p.isRunning {
            Thread.sleep(forTimeInterval: 0.2)
            running = (try? String(contentsOfFile: runDir + "/metrics.jsonl", encoding: .utf8))?.contains("\"event\":\"epoch\"") ?? false
        }
        guard running else {
            for host in Self.hosts { Self.killAll(in: host) }
            _ = drained.wait(timeout: .now() + 5)
            throw NotStarted(output: String(decoding: output.data, as: UTF8.self))
        }
        try fault(runDir)
        let broken = Date()
        let exited = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { p.waitUntilExit(); exited.signal() }
        if exited.wait(timeout: .now() + 30) == .timedOut {
            for host in Self.hosts { Self.killAll(in: host) }
            _ = exited.wait(timeout: .now() + 10)
            XCTFail("the job hung after the fault")
        }
        let seconds = Date().timeIntervalSince(broken)
        // Leftovers (a daemon, a rank) would hold the pipe open: wait a little, then report them.
        var left: [String: [Int32]] = [:]
        for _ in 0..<75 {
            left = Dictionary(uniqueKeysWithValues: Self.hosts.map { ($0, Self.pids(in: $0)) }).filter { !$0.value.isEmpty }
            if left.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTAssertTrue(left.isEmpty, "still running after the job ended: \(left.mapValues { $0.map { Self.command(of: $0) } })")
        for host in Self.hosts { Self.killAll(in: host) }
        _ = drained.wait(timeout: .now() + 10)
        print(String(format: "%@: the job ended %.1f s after the fault, status %d", name, seconds, p.terminationStatus))
        return (p.terminationStatus, String(decoding: output.data, as: UTF8.self), seconds)
    }

    /// The endless run's checkpoint opens and carries its training state.
    func assertCheckpointLoads() throws {
        let file = try SafetensorsFile(path: dir.appendingPathComponent("endless").path + "/checkpoint.safetensors")
        XCTAssertNotNil(file.metadata["reidprune.training_state"])
        XCTAssertFalse(file.names.isEmpty)
        for name in file.names.prefix(5) { XCTAssertFalse(try file.floats(name).isEmpty, name) }
    }

    struct NotStarted: Error, CustomStringConvertible {
        let output: String
        var description: String { "training on 3 hosts did not start within 60 s:\n\(output.suffix(1500))" }
    }

    final class OutputBox: @unchecked Sendable {
        private let lock = NSLock()
        private var bytes = Data()
        func set(_ d: Data) { lock.lock(); bytes = d; lock.unlock() }
        var data: Data { lock.lock(); defer { lock.unlock() }; return bytes }
    }

    /// The PIDs of the processes in a host's network namespace.
    static func pids(in host: String) -> [Int32] {
        guard let (status, out) = try? ChildProcess.run(["/usr/sbin/ip", "netns", "pids", host]), status == 0 else { return [] }
        return out.split(whereSeparator: \.isNewline).compactMap { Int32($0) }
    }

    static func killAll(in host: String) {
        for pid in pids(in: host) { kill(pid, SIGKILL) }
    }

    /// The network namespace a process is in, by name.
    static func namespace(of pid: Int32) -> String? {
        guard let (status, out) = try? ChildProcess.run(["/usr/sbin/ip", "netns", "identify", "\(pid)"]), status == 0 else { return nil }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func command(of pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The PID of the reidprune process of `rank` whose command line mentions `marker`.
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
