// Elastic resume and preemption, with the built executable: a run checkpointed by 3 ranks
// resumes on 2 (SyncBN, the same global batch) and ends with the weights of an
// uninterrupted 2-rank run; SIGTERM to launch/train (forwarded to the ranks as SIGUSR1 by
// mpirun) makes every rank stop at the same step with a checkpoint and status 75, and the
// rerun ends with the weights of an uninterrupted run; a single process stops the same way
// on one SIGINT and at once, without a checkpoint, on two (a second interrupt says whether
// the stop's checkpoint was already written).
import Foundation
import Tensors
@testable import Training
import TestSupport
import XCTest

final class PreemptionTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipIf(MPILaunchTests.which("mpirun") == nil, "mpirun is not installed (launch/setup installs openmpi-bin)")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-preempt-\(UUID().uuidString)")
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
            train: {epochs: 2, optimizer: sgd, lr: 0.05, warmup_epochs: 0, schedule: constant, progress: false}
            distributed: {sync_bn: true, checksum_every: 1}
            eval: {batch_size: 32}
            """
        try config.write(to: dir.appendingPathComponent("tiny.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    var config: String { dir.appendingPathComponent("tiny.yaml").path }

    func mpirun(_ ranks: Int, _ args: [String]) -> [String] {
        [MPILaunchTests.which("mpirun")!] + MPILaunchTests.mpiFlags + ["-np", "\(ranks)", ChildProcess.reidprune] + args
    }

    static func weights(_ runDir: String) throws -> [Float] {
        let file = try SafetensorsFile(path: runDir + "/model.safetensors")
        return try file.names.sorted().flatMap { try file.floats($0) }
    }

    func testCheckpointOfThreeRanksResumesOnTwo() throws {
        let whole = dir.appendingPathComponent("whole").path, elastic = dir.appendingPathComponent("elastic").path
        // The three steps of one epoch, on which 2 and 3 ranks flip no discrete decision (see MPILaunchTests).
        let epoch = ["train.epochs=1"]
        let (s0, o0) = try ChildProcess.run(mpirun(2, ["train", "--config", config, "run.dir=\(whole)"] + epoch))
        XCTAssertEqual(s0, 0, o0)
        // The first step on 3 ranks (then a host is lost), the other two on 2.
        let (s1, o1) = try ChildProcess.run(mpirun(3, ["train", "--config", config, "run.dir=\(elastic)",
                                                       "train.max_iterations=1"] + epoch))
        XCTAssertEqual(s1, 0, o1)
        XCTAssertTrue(o1.contains("3 ranks, global batch 12"), o1)
        XCTAssertTrue(o1.contains("trained 1 iteration(s) (train.max_iterations), in epoch 1 of 1 in "), o1)
        let (s2, o2) = try ChildProcess.run(mpirun(2, ["train", "--config", config, "run.dir=\(elastic)"] + epoch))
        XCTAssertEqual(s2, 0, o2)
        XCTAssertTrue(o2.contains("resumed with changed train.max_iterations (1 -> 0), ranks (3 -> 2)"), o2)
        XCTAssertTrue(o2.contains("2 ranks, global batch 12"), o2)
        XCTAssertLessThanOrEqual(relativeError(try Self.weights(elastic), try Self.weights(whole)), 1e-5,
                                 "3 ranks then 2 vs 2 ranks throughout")
        let log = try String(contentsOfFile: elastic + "/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(log.contains("\"ranks\":[\"3\",\"2\"]"), log)
    }

    /// Starts `args` (launch/train runs REIDPRUNE_BIN, the built executable) with its
    /// output going to a file; the process, the file, and the handle to close at the end.
    func start(_ args: [String]) throws -> (Process, URL, FileHandle) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        var env = ChildProcess.cleanEnvironment
        env["REIDPRUNE_BIN"] = ChildProcess.reidprune
        p.environment = env
        let out = dir.appendingPathComponent("out-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let handle = try FileHandle(forWritingTo: out)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return (p, out, handle)
    }

    /// Starts `args`, waits until metrics.jsonl of `runDir` shows a finished epoch, sends
    /// `signals` (each after the one before it was acknowledged: the output shows
    /// `acknowledged` once more) and returns the status, the output and the seconds from
    /// the first signal to the end.
    /// `group`: each signal goes to the child's whole process group, as a terminal's Ctrl-C
    /// does (Foundation starts a child as the leader of a group of its own).
    func runAndSignal(_ args: [String], runDir: String, signals: [Int32],
                      acknowledged: String = "finishing the current step", group: Bool = false,
                      ready: ((String) -> Bool)? = nil) throws -> (Int32, String, Double) {
        let (p, out, handle) = try start(args)
        let deadline = Date().addingTimeInterval(90)
        var running = false
        while !running && Date() < deadline && p.isRunning {
            Thread.sleep(forTimeInterval: 0.1)
            if let ready {
                running = ready((try? String(contentsOf: out, encoding: .utf8)) ?? "")
            } else {
                running = (try? String(contentsOfFile: runDir + "/metrics.jsonl", encoding: .utf8))?.contains("\"event\":\"epoch\"") ?? false
            }
        }
        XCTAssertTrue(running, "training did not start: " + ((try? String(contentsOf: out, encoding: .utf8)) ?? ""))
        let sent = Date()
        for (i, s) in signals.enumerated() {
            // Two signals sent before the first is handled may merge into one delivery.
            if i > 0 {
                let until = Date().addingTimeInterval(30)
                func seen() -> Int {
                    ((try? String(contentsOf: out, encoding: .utf8)) ?? "").components(separatedBy: acknowledged).count - 1
                }
                while seen() < i && p.isRunning && Date() < until { Thread.sleep(forTimeInterval: 0.002) }
            }
            kill(group ? -p.processIdentifier : p.processIdentifier, s)
        }
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { p.waitUntilExit(); done.signal() }
        if done.wait(timeout: .now() + 60) == .timedOut {
            p.interrupt()
            kill(p.processIdentifier, SIGKILL)
            XCTFail("still running 60 s after the signal")
        }
        try handle.close()
        return (p.terminationStatus, try String(contentsOf: out, encoding: .utf8), Date().timeIntervalSince(sent))
    }

    func testTermToLaunchTrainStopsEveryRankAtOneStepAndTheRerunResumesExactly() throws {
        let whole = dir.appendingPathComponent("whole").path, stopped = dir.appendingPathComponent("stopped").path
        let long = ["train.epochs=25"]
        let (s0, o0) = try ChildProcess.run(mpirun(2, ["train", "--config", config, "run.dir=\(whole)"] + long))
        XCTAssertEqual(s0, 0, o0)
        let launch = [SimulatedClusterTests.repo + "/launch/train", config, "--np", "2", "--bind-to", "none",
                      "run.dir=\(stopped)"] + long
        let (status, out, _) = try runAndSignal(launch, runDir: stopped, signals: [SIGTERM])
        XCTAssertEqual(status, 75, out)
        XCTAssertTrue(out.contains("reidprune: stopped by SIGUSR1 in epoch "), out)
        XCTAssertTrue(out.contains("run the same command again to resume"), out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: stopped + "/checkpoint.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: stopped + "/model.safetensors"), "stopped before the end")
        let log = try String(contentsOfFile: stopped + "/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(log.contains("\"event\":\"preempted\""), log)
        let (s2, o2) = try ChildProcess.run(mpirun(2, ["train", "--config", config, "run.dir=\(stopped)"] + long))
        XCTAssertEqual(s2, 0, o2)
        XCTAssertTrue(o2.contains("resumed from"), o2)
        XCTAssertLessThanOrEqual(relativeError(try Self.weights(stopped), try Self.weights(whole)), 1e-6,
                                 "preempted and resumed vs uninterrupted")
    }

    /// Ctrl-C at a terminal reaches launch/train's whole process group, its output filter
    /// included: the lines after it (the stop and how to resume; after a second one, why the
    /// job ended) still come out.
    func testCtrlCToLaunchTrainsGroupIsReported() throws {
        let launch = { (run: String) in
            [SimulatedClusterTests.repo + "/launch/train", self.config, "--np", "2", "--bind-to", "none",
             "run.dir=\(self.dir.path)/\(run)", "train.epochs=40", "distributed.sync_bn=false"]
        }
        let (s1, o1, _) = try runAndSignal(launch("once"), runDir: dir.path + "/once", signals: [SIGINT], group: true)
        XCTAssertEqual(s1, 75, o1)
        XCTAssertTrue(o1.contains("reidprune: stopped by SIGUSR1 in epoch "), o1)
        XCTAssertTrue(o1.contains("run the same command again to resume"), o1)
        // Steps of tens of ms, so that the second interrupt lands while the first one's step runs
        // (as in testOneInterruptCheckpointsTwoEndAtOnce; a loaded machine may still finish the stop first).
        let (s2, o2, _) = try runAndSignal(launch("twice") + ["data.height=256", "data.width=128", "model.base_width=16",
                                                              "train.checkpoint_every=0"],
                                           runDir: dir.path + "/twice", signals: [SIGINT, SIGINT], group: true)
        if s2 == 75 {
            XCTAssertTrue(o2.contains("reidprune: stopped by SIGUSR1"), o2)
            print("the stop was complete before the second interrupt")
        } else {
            XCTAssertEqual(s2, 130, o2)
            XCTAssertTrue(o2.contains("launch/train: interrupted twice: ending the job now"), o2)
            XCTAssertFalse(o2.contains("mpirun ended the ranks with SIGTERM"), o2)
        }
        // --fresh goes through to the ranks: the stopped run starts over instead of resuming.
        let (s3, o3) = try ChildProcess.run(launch("once") + ["--fresh", "train.epochs=1"],
                                            environment: ["REIDPRUNE_BIN": ChildProcess.reidprune])
        XCTAssertEqual(s3, 0, o3)
        XCTAssertFalse(o3.contains("resumed from"), o3)
    }

    func testOneInterruptCheckpointsTwoEndAtOnce() throws {
        let whole = dir.appendingPathComponent("whole").path, stopped = dir.appendingPathComponent("stopped").path
        let long = ["train.epochs=40", "distributed.sync_bn=false"]
        let (s0, o0) = try ChildProcess.run([ChildProcess.reidprune, "train", "--config", config, "run.dir=\(whole)"] + long)
        XCTAssertEqual(s0, 0, o0)
        let cmd = [ChildProcess.reidprune, "train", "--config", config, "run.dir=\(stopped)"] + long
        let (status, out, _) = try runAndSignal(cmd, runDir: stopped, signals: [SIGINT])
        XCTAssertEqual(status, 75, out)
        XCTAssertTrue(out.contains("SIGINT: finishing the current step, then writing a checkpoint (interrupt again to stop at once)"), out)
        XCTAssertTrue(out.contains("stopped by SIGINT"), out)
        let (s1, o1) = try ChildProcess.run(cmd)
        XCTAssertEqual(s1, 0, o1)
        XCTAssertLessThanOrEqual(relativeError(try Self.weights(stopped), try Self.weights(whole)), 1e-6)

        let twice = dir.appendingPathComponent("twice").path
        // The second interrupt goes out as soon as the first is acknowledged. Steps of this
        // size (tens of ms) make it land while the first one's step still runs, but a
        // loaded machine may let that step, and so the stop's checkpoint, finish first:
        // either way the run ends at once (130) and its last line says truly whether the
        // checkpoint was written. No periodic checkpoint: only the interrupts write one.
        let (s2, o2, seconds) = try runAndSignal([ChildProcess.reidprune, "train", "--config", config, "run.dir=\(twice)",
                                                  "train.checkpoint_every=0", "data.height=256", "data.width=128",
                                                  "model.base_width=16"] + long,
                                                 runDir: twice, signals: [SIGINT, SIGINT])
        let written = FileManager.default.fileExists(atPath: twice + "/checkpoint.safetensors")
        if s2 == 75 {
            // The stop completed before the second interrupt arrived: nothing to end.
            XCTAssertTrue(written && o2.contains("stopped by SIGINT"), o2)
        } else {
            XCTAssertEqual(s2, 130, o2)
            XCTAssertTrue(o2.contains(written ? "interrupted twice: stopping now; this stop's checkpoint was already written"
                                              : "interrupted twice: stopping now, without a checkpoint"), o2)
        }
        print(String(format: "two interrupts ended the run %.2f s after the first (%@)", seconds,
                     written ? "after the stop's checkpoint" : "before the stop's checkpoint"))
    }

    /// A stop signal while the run generates its synthetic data set ends the generation at
    /// once, says so (not that a step will finish and a checkpoint follow) and keeps none of it.
    func testTermDuringDataGenerationEndsItAtOnceAndKeepsNothing() throws {
        let data = dir.appendingPathComponent("large").path
        let (status, out, seconds) = try runAndSignal(
            [ChildProcess.reidprune, "train", "--config", config, "run.dir=\(dir.path)/gen", "data.root=\(data)",
             "data.synth.ids=2000", "data.synth.images_per_id=20"],
            runDir: dir.path + "/gen", signals: [SIGTERM], acknowledged: "stopping the data generation",
            ready: { $0.contains("rendering") })
        XCTAssertNotEqual(status, 0, out)
        XCTAssertTrue(out.contains("reidprune: SIGTERM: stopping the data generation now; nothing of it is kept"), out)
        XCTAssertFalse(out.contains("finishing the current step"), out)
        XCTAssertTrue(out.contains("Error: \(data): generation failed: stopped by SIGTERM"), out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data), "a partial data set was kept")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path + "/gen/checkpoint.safetensors"))
        print(String(format: "the generation ended %.2f s after SIGTERM", seconds))
    }

    /// launch/train checks the recipe in one process before it starts the ranks: a recipe
    /// error is one line, not one per rank inside mpirun's abort report.
    func testRecipeErrorUnderLaunchTrainIsOneLine() throws {
        let (status, out) = try ChildProcess.run([SimulatedClusterTests.repo + "/launch/train", config, "--np", "2",
                                                  "--bind-to", "none", "train.epochs=0"],
                                                 environment: ["REIDPRUNE_BIN": ChildProcess.reidprune])
        XCTAssertEqual(status, 1, out)
        XCTAssertEqual(out.split(separator: "\n").filter { !$0.isEmpty },
                       ["Error: override 'train.epochs=0': must be 1 to 100000, got 0"], out)
        // A data folder the recipe reads as it is (no data.synth) must be there.
        let missing = dir.appendingPathComponent("none").path
        let plain = dir.appendingPathComponent("plain.yaml").path
        try String(contentsOfFile: config, encoding: .utf8).split(separator: "\n").filter { !$0.contains("synth:") }
            .joined(separator: "\n").write(toFile: plain, atomically: true, encoding: .utf8)
        let (s2, o2) = try ChildProcess.run([SimulatedClusterTests.repo + "/launch/train", plain, "--np", "2",
                                             "--bind-to", "none", "data.root=\(missing)"],
                                            environment: ["REIDPRUNE_BIN": ChildProcess.reidprune])
        XCTAssertEqual(s2, 1, o2)
        XCTAssertEqual(o2.split(separator: "\n").filter { !$0.isEmpty }, ["Error: data.root: \(missing): no such folder"], o2)
        // So must the model a run starts from, and load.
        let (sm, om) = try ChildProcess.run([SimulatedClusterTests.repo + "/launch/train", config, "--np", "2", "--bind-to", "none",
                                             "model.pretrained=\(missing).safetensors"],
                                            environment: ["REIDPRUNE_BIN": ChildProcess.reidprune])
        XCTAssertEqual(sm, 1, om)
        XCTAssertEqual(om.split(separator: "\n").filter { !$0.isEmpty },
                       ["Error: model.pretrained: \(missing).safetensors: cannot read: no such file"], om)
        // A batch that does not split over the ranks asked for, and an option launch/train does not have.
        let (s3, o3) = try ChildProcess.run([SimulatedClusterTests.repo + "/launch/train", config, "--np", "4",
                                             "--bind-to", "none"], environment: ["REIDPRUNE_BIN": ChildProcess.reidprune])
        XCTAssertEqual(s3, 1, o3)
        XCTAssertEqual(o3.split(separator: "\n").filter { !$0.isEmpty },
                       ["Error: data.identities: 6 identities per batch do not split evenly over 4 ranks; choose a multiple of 4"], o3)
        let (s4, o4) = try ChildProcess.run([SimulatedClusterTests.repo + "/launch/train", config, "-np", "2"],
                                            environment: ["REIDPRUNE_BIN": ChildProcess.reidprune])
        XCTAssertEqual(s4, 2, o4)
        XCTAssertTrue(o4.hasPrefix("launch/train: unknown option '-np' (options: --np N,"), o4)
        // A classification recipe's global batch is checked against the ranks too.
        let classification = SimulatedClusterTests.repo + "/configs/pretrain/synth_classification_resnet18.yaml"
        let (s5, o5) = try ChildProcess.run([ChildProcess.reidprune, "train", "--config", classification, "--check",
                                             "--ranks", "3", "run.dir=\(dir.path)/cls"])
        XCTAssertEqual(s5, 1, o5)
        XCTAssertEqual(o5.split(separator: "\n").filter { !$0.isEmpty },
                       ["Error: data.batch_size: the global batch 64 must be a positive multiple of the rank count 3"], o5)
        let (s6, o6) = try ChildProcess.run([ChildProcess.reidprune, "train", "--config", classification, "--check",
                                             "--ranks", "4", "run.dir=\(dir.path)/cls"])
        XCTAssertEqual(s6, 0, o6)
        XCTAssertEqual(o6, "run.dir: \(dir.path)/cls\n")
    }

    /// An error every rank meets after the recipe check (here a data folder that is not the
    /// synthetic set the recipe describes, or no data set at all) is one line from the root; an error of one rank
    /// (its training images) is that rank's line, without mpirun's abort report.
    func testErrorsAfterTheRecipeCheckUnderLaunchTrain() throws {
        let other = dir.appendingPathComponent("other").path
        try FileManager.default.createDirectory(atPath: other + "/query", withIntermediateDirectories: true)
        let env = ["REIDPRUNE_BIN": ChildProcess.reidprune]
        let (status, out) = try ChildProcess.run([SimulatedClusterTests.repo + "/launch/train", config, "--np", "2",
                                                  "--bind-to", "none", "data.root=\(other)"], environment: env)
        XCTAssertEqual(status, 1, out)
        XCTAssertEqual(out.split(separator: "\n").filter { !$0.isEmpty && !$0.hasPrefix("launch/train: 2 rank(s)") },
                       ["Error: \(other): exists and is not a data set made by SynthReID 2 with these options; choose "
                        + "another folder (data.root in a recipe, --out for reidprune synth) or remove it"], out)
        // The same folder read as it is (no data.synth): every rank finds no data set there, the root says it.
        let (sp, op) = try ChildProcess.run([SimulatedClusterTests.repo + "/launch/train", config, "--np", "2",
                                             "--bind-to", "none", "data.root=\(other)", "data.synth=null"], environment: env)
        XCTAssertEqual(sp, 1, op)
        let lines = op.split(separator: "\n").filter { !$0.isEmpty && !$0.hasPrefix("launch/train: 2 rank(s)") }
        XCTAssertEqual(lines.count, 1, op)
        XCTAssertTrue(lines.first?.hasPrefix("Error: data.root: \(other): the folder matches no known data set layout. "
                                             + "Expected one of: Market-1501: ") ?? false, op)

        // A file that is not a model, which every rank reads under mpirun: said once.
        let (se, oe) = try ChildProcess.run(mpirun(2, ["eval", "--config", config, "--weights", config]))
        XCTAssertEqual(se, 1, oe)
        XCTAssertEqual(oe.components(separatedBy: "Error: \(config): ").count, 2, oe)
        XCTAssertFalse(oe.contains("failed:"), oe)

        // The set generated, then every training image made unreadable.
        let (s0, o0) = try ChildProcess.run([ChildProcess.reidprune, "train", "--config", config, "--check"])
        XCTAssertEqual(s0, 0, o0)
        // A run folder the run could not create is found before the ranks start.
        let (sw, ow) = try ChildProcess.run([ChildProcess.reidprune, "train", "--config", config, "--check",
                                             "run.dir=\(config)/run"])
        XCTAssertEqual(sw, 1, ow)
        XCTAssertTrue(ow.contains("Error: run.dir '\(config)/run': cannot write: '\(config)' is a file, not a folder"), ow)
        let (s1, o1) = try ChildProcess.run(mpirun(1, ["train", "--config", config, "run.dir=\(dir.path)/first",
                                                       "train.max_iterations=1"]))
        XCTAssertEqual(s1, 0, o1)
        let train = dir.appendingPathComponent("data/bounding_box_train").path
        for f in try FileManager.default.contentsOfDirectory(atPath: train) {
            try Data(repeating: 0x41, count: 64).write(to: URL(fileURLWithPath: train + "/" + f))
        }
        let (s2, o2) = try ChildProcess.run([SimulatedClusterTests.repo + "/launch/train", config, "--np", "2",
                                             "--bind-to", "none", "run.dir=\(dir.path)/second"], environment: env)
        XCTAssertEqual(s2, 1, o2)
        XCTAssertTrue(o2.contains("failed: \(train)/"), o2)
        XCTAssertTrue(o2.contains("not a JPEG or PNG image (64 bytes, unknown signature)"), o2)
        for noise in ["MPI_ABORT", "-----", "ORTE_ERROR_LOG", "SIGTERM", "help message"] {
            XCTAssertFalse(o2.contains(noise), "\(noise) in:\n\(o2)")
        }
    }

    /// launch/mpi-messages on mpirun's reports as Open MPI 4.1 writes them.
    func testMPIMessagesShortenMPIrunsReports() throws {
        let dashes = String(repeating: "-", count: 74)
        func filtered(_ lines: [String]) throws -> [String] {
            let input = dir.appendingPathComponent("stderr-\(UUID().uuidString).txt")
            try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
            let (status, out) = try ChildProcess.run(["/bin/sh", "-c", "\"$0\" < \"$1\"",
                                                      SimulatedClusterTests.repo + "/launch/mpi-messages", input.path])
            XCTAssertEqual(status, 0, out)
            return out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast()
        }
        let exited = [dashes, "Primary job  terminated normally, but 1 process returned",
                      "a non-zero exit code. Per user-direction, the job has been aborted.", dashes, dashes,
                      "mpirun detected that one or more processes exited with non-zero status, thus causing",
                      "the job to be terminated. The first process to do so was:", "",
                      "  Process name: [[25519,1],1]", "  Exit code:    CODE", dashes]
        XCTAssertEqual(try filtered(["Error: x"] + exited.map { $0.replacingOccurrences(of: "CODE", with: "1") }),
                       ["Error: x"])
        XCTAssertEqual(try filtered(exited.map { $0.replacingOccurrences(of: "CODE", with: "127") }),
                       ["launch/train: rank 1 exited with status 127, so mpirun ended the job"])
        let abort = [dashes, "MPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD", "with errorcode 1.", "",
                     "NOTE: invoking MPI_ABORT causes Open MPI to kill all MPI processes.",
                     "You may or may not see output from other processes, depending on",
                     "exactly when Open MPI kills them.", dashes,
                     "[vm:01028] [[26874,0],0] ORTE_ERROR_LOG: Out of resource in file ../../../orte/util/show_help.c at line 507",
                     "[vm:07423] 1 more process has sent help message help-mpi-api.txt / mpi-abort",
                     "[vm:07423] Set MCA parameter \"orte_base_help_aggregate\" to 0 to see all help / error messages"]
        let failed = "reidprune: rank 1 of 2 failed: a.jpg: not a JPEG or PNG image"
        let term = "reidprune: SIGTERM: finishing the current step, then writing a checkpoint"
        XCTAssertEqual(try filtered(abort + [term, failed]), [failed], "the rank's line comes after the box")
        XCTAssertEqual(try filtered(abort), ["launch/train: rank 1 called MPI_ABORT (error code 1), so mpirun ended the job"])
        let killed = "mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed)."
        XCTAssertEqual(try filtered([dashes, killed, dashes, term]), [killed])
        let usr1 = "reidprune: SIGUSR1: finishing the current step, then writing a checkpoint"
        XCTAssertEqual(try filtered(["mpirun: Forwarding signal 10 to job", usr1, usr1, "reidprune: stopped by SIGUSR1"]
                                    + exited.map { $0.replacingOccurrences(of: "CODE", with: "75") }),
                       ["mpirun: Forwarding signal 10 to job", usr1, "reidprune: stopped by SIGUSR1"])
        XCTAssertEqual(try filtered([term, term]), ["launch/train: mpirun ended the ranks with SIGTERM before they could stop "
                                                    + "with a checkpoint (for such a stop, send SIGTERM or SIGUSR1 to "
                                                    + "launch/train, not to mpirun)"])
        XCTAssertEqual(try filtered([term, "reidprune: stopped by SIGTERM in epoch 2"]), ["reidprune: stopped by SIGTERM in epoch 2"])
        let stall = { (r: Int) in "reidprune: rank \(r) of 3 failed: collective watchdog: rank \(r) on h\(r) waited 5 s in "
            + "collective #9, allreduce, during training; did not arrive: rank 2 on h2 (no answer: stopped, hung, or busy)" }
        let tcp = [dashes, "WARNING: Open MPI failed to TCP connect to a peer MPI process.  This", "should not happen.", dashes]
        XCTAssertEqual(try filtered(tcp + [stall(0), stall(1), "[vm:1] 2 more processes have sent help message "
                                          + "help-mpi-api.txt / mpi-abort"]), [stall(0)])
        XCTAssertEqual(try filtered(tcp + ["reidprune: rank 0 of 2 failed: x"]), ["reidprune: rank 0 of 2 failed: x"] + tcp)
        let dump = ["[vm:840] *** Process received signal ***", "[vm:840] Signal: Segmentation fault (11)",
                    "[vm:840] [ 0] /lib/x86_64-linux-gnu/libpmix.so.2(PMIx_Finalize+0x703)[0x7f45]",
                    "[vm:840] [ 7] mpirun(+0x13b9)[0x5563]", "[vm:840] *** End of error message ***"]
        XCTAssertEqual(try filtered(dump), ["launch/train: mpirun itself crashed (Segmentation fault (11)) while ending the "
                                            + "job, an Open MPI fault; the ranks have ended"])
        let rankDump = dump.map { $0.replacingOccurrences(of: "mpirun(", with: "reidprune(") }
        XCTAssertEqual(try filtered(rankDump), rankDump)
        let lost = [dashes, "ORTE has lost communication with a remote daemon.", "", "  HNP daemon   : [[1,0],0] on node a",
                    dashes]
        XCTAssertEqual(try filtered(lost + ["a line after it"]), lost + ["a line after it"])
    }

    /// A rank that stalls before training (here while the root renders the synthetic set,
    /// so that the root's next collective is the start-up's) trips the collective watchdog
    /// as in a step, instead of hanging the job.
    func testStalledRankAtStartUpTripsTheWatchdog() throws {
        let runDir = dir.appendingPathComponent("stalled").path
        let args = mpirun(2, ["train", "--config", config, "run.dir=\(runDir)", "distributed.timeout_s=3",
                              "data.root=\(dir.path)/slow", "data.synth.ids=150", "data.synth.images_per_id=4"])
        let (p, out, handle) = try start(args)
        var stopped: Int32?
        let deadline = Date().addingTimeInterval(60)
        while stopped == nil && Date() < deadline && p.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
            if ((try? String(contentsOf: out, encoding: .utf8)) ?? "").contains("rendering"),
               let pid = SimulatedClusterTests.rankProcess(rank: 1, marker: runDir) {
                kill(pid, SIGSTOP)
                stopped = pid
            }
        }
        let stop = Date()
        let end = Date().addingTimeInterval(60)
        while p.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning { p.terminate() }
        if let stopped { kill(stopped, SIGKILL) }
        p.waitUntilExit()
        try handle.close()
        let text = try String(contentsOf: out, encoding: .utf8)
        XCTAssertNotNil(stopped, text)
        XCTAssertNotEqual(p.terminationStatus, 0, text)
        XCTAssertLessThan(Date().timeIntervalSince(stop), 40, text)
        XCTAssertTrue(text.contains("collective watchdog: rank 0 on "), text)
        XCTAssertTrue(text.contains("(distributed.timeout_s: 3) in collective #"), text)
        XCTAssertTrue(text.contains("during start-up; did not arrive: rank 1 on "), text)
    }

    /// A second interrupt's line says whether the stop's checkpoint was already complete.
    func testSecondInterruptSaysWhetherTheStopsCheckpointWasWritten() {
        let before = StopSignals.secondInterruptLine(checkpointWritten: false)
        let after = StopSignals.secondInterruptLine(checkpointWritten: true)
        XCTAssertTrue(before.contains("interrupted twice: stopping now, without a checkpoint"), before)
        XCTAssertTrue(after.contains("already written") && !after.contains("without"), after)
    }
}
