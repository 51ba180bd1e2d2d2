// Latency-targeted pruning around the ranking: the on-disk latency cache (keyed by CPU
// model, thread count and precision, merged and written atomically, a corrupt file named), the
// recipe keys (target_latency, round_to auto, round_slack, latency:) and their errors,
// a pruning round on two ranks whose root ranks with a hand-made table, and the root's
// check replanning a target the whole network missed. Nothing is timed: tables are
// hand-made or filled by a counting cost function, and the whole network's time is a
// stand-in.
import Distributed
import Foundation
import NN
@testable import Pruning
import ReIDData
@testable import Training
import Tensors
import TestSupport
import XCTest

final class LatencyPruningTests: ScratchFolderTestCase {
    static func cost(_ s: ConvShape) -> Double { Double(s.inChannels * s.outChannels * s.kernel * s.kernel) / 1e3 }

    let shapes = ResNetArchitecture.resnet(.resnet18, baseWidth: 4).inferenceConvolutions(batch: 2, height: 64, width: 32)

    func testMachineKeyComesFromCpuinfoAndThreads() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B45 128-Core Processor\n"
            + "processor\t: 1\nmodel name\t: AMD EPYC 9B45 128-Core Processor\n"
        XCTAssertEqual(LatencyCache.machineKey(cpuinfo: cpuinfo, threads: 2), "AMD EPYC 9B45 128-Core Processor | 2 threads")
        XCTAssertEqual(LatencyCache.machineKey(cpuinfo: "processor : 0\n", threads: 1), "unknown CPU | 1 threads")
        XCTAssertEqual(LatencyCache.machineKey(cpuinfo: cpuinfo, threads: 2, precision: .bf16),
                       "AMD EPYC 9B45 128-Core Processor | 2 threads | bf16", "bf16 kernels have their own table")
        XCTAssertEqual(LatencyCache.machineKey(cpuinfo: cpuinfo, threads: 2, oneDNN: "2.6.3", kernels: 2),
                       "AMD EPYC 9B45 128-Core Processor | 2 threads | oneDNN 2.6.3 | kernels 2")
        XCTAssertNotEqual(LatencyCache.machineKey(cpuinfo: cpuinfo, threads: 2, oneDNN: "2.6.3", kernels: 2),
                          LatencyCache.machineKey(cpuinfo: cpuinfo, threads: 2, oneDNN: "2.7.0", kernels: 2),
                          "another oneDNN times its own entries")
        XCTAssertNotEqual(LatencyCache.machineKey(cpuinfo: cpuinfo, threads: 2, oneDNN: "2.6.3", kernels: 2),
                          LatencyCache.machineKey(cpuinfo: cpuinfo, threads: 2, oneDNN: "2.6.3", kernels: 3),
                          "another kernels revision times its own entries")
        let current = LatencyCache.currentMachine(threads: 2)
        XCTAssertTrue(current.hasSuffix(" | 2 threads | oneDNN \(DNNL.version) | kernels \(LatencyCache.kernelsRevision)"), current)
        XCTAssertEqual(LatencyCache.defaultPath(environment: ["XDG_CACHE_HOME": "/c", "HOME": "/h"]), "/c/reidprune/latency.json")
        XCTAssertEqual(LatencyCache.defaultPath(environment: ["HOME": "/h"]), "/h/.cache/reidprune/latency.json")
    }

    func testCacheKeepsEachMachinesTableAndMissesForAnotherCPUOrThreadCount() throws {
        let cache = LatencyCache(path: dir.appendingPathComponent("sub/latency.json").path)
        nonisolated(unsafe) var calls = 0
        let counting: (ConvShape) throws -> Double = { calls += 1; return Self.cost($0) }
        let a = try cache.table(machine: "CPU A | 2 threads", measure: counting)
        for s in shapes { _ = try a.milliseconds(s) }
        let distinct = Set(shapes).count
        XCTAssertEqual(calls, distinct)
        try cache.save(a)
        // The same machine: everything from the file, nothing timed.
        let again = try cache.table(machine: "CPU A | 2 threads", measure: counting)
        for s in shapes { XCTAssertEqual(try again.milliseconds(s), Self.cost(s)) }
        XCTAssertEqual(calls, distinct)
        XCTAssertEqual(again.measured, 0)
        // Another CPU name, another thread count: misses.
        for machine in ["CPU B | 2 threads", "CPU A | 1 threads"] {
            let other = try cache.table(machine: machine, measure: counting)
            XCTAssertTrue(other.entries.isEmpty, machine)
            _ = try other.milliseconds(shapes[0])
            try cache.save(other)
        }
        XCTAssertEqual(calls, distinct + 2)
        // Saving merges: every machine's entries stay.
        let all = try cache.load()
        XCTAssertEqual(Set(all.keys), ["CPU A | 2 threads", "CPU B | 2 threads", "CPU A | 1 threads"])
        XCTAssertEqual(all["CPU A | 2 threads"]?.count, distinct)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("sub").path),
                       ["latency.json"], "no temporary file is left")
    }

    func testCorruptCacheIsOneLineErrorNamingTheFile() throws {
        for (name, text) in [("garbage.json", "{not json"), ("format.json", "{\"format\": 2, \"machines\": {}}"),
                             ("entry.json", "{\"format\": 1, \"machines\": {\"X | 1 threads\": {\"n1 c2\": 1.0}}}")] {
            let path = try write(name, text)
            XCTAssertThrowsError(try LatencyCache(path: path).table(machine: "X | 1 threads", measure: nil), name) {
                XCTAssertTrue("\($0)".hasPrefix("latency cache \(path): "), "\($0)")
                XCTAssertTrue("\($0)".hasSuffix("delete the file to rebuild it"), "\($0)")
                XCTAssertFalse("\($0)".contains("\n"))
            }
        }
        XCTAssertTrue(try LatencyCache(path: dir.appendingPathComponent("none.json").path).load().isEmpty, "missing: empty")
    }

    func testRecipeKeys() throws {
        let p = try XCTUnwrap(try recipe("{criterion: l1, target_latency: 0.6, round_to: auto, round_slack: 0.2, "
                                         + "latency: {batch: 1, cache: /tmp/t.json, repeats: 3, check: false}, steps: 2}").prune)
        XCTAssertEqual(p.settings.ranking.targetLatency, 0.6)
        XCTAssertNil(p.settings.ranking.targetFLOPs)
        XCTAssertTrue(p.settings.ranking.roundAuto)
        XCTAssertEqual(p.settings.ranking.roundSlack, 0.2)
        XCTAssertEqual(p.settings.ranking.latencyBatch, 1)
        XCTAssertEqual(p.settings.latencyCache, "/tmp/t.json")
        XCTAssertEqual(p.settings.latencyRepeats, 3)
        XCTAssertFalse(p.settings.latencyCheck)
        XCTAssertEqual(try XCTUnwrap(p.latencyTarget(round: 1)), 0.6.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(p.roundRanking(0, of: 2, current: 10, unpruned: 10).targetLatency ?? 0, 0.6.squareRoot(), accuracy: 1e-12)
        // An integer round_to keeps its meaning; the written recipe reads back the same.
        let eight = try XCTUnwrap(try recipe("{round_to: 8}").prune)
        XCTAssertEqual(eight.settings.ranking.roundTo, 8)
        XCTAssertFalse(eight.settings.ranking.roundAuto)
        XCTAssertEqual(eight.settings.ranking.targetFLOPs, 0.5)
        let c = try recipe("{target_latency: 0.6, round_to: auto}")
        let again = try ExperimentConfig.parse(try ConfigFile.load(try write("again.yaml", c.yaml)))
        XCTAssertEqual(again.prune?.settings.ranking.targetLatency, 0.6)
        XCTAssertEqual(again.prune?.settings.ranking.roundAuto, true)
        XCTAssertNil(again.prune?.settings.ranking.targetFLOPs)
    }

    func testBadLatencyKeysFailNamingThem() throws {
        let cases = [
            ("{target_latency: 0.5, target_flops: 0.5}", "give prune.target_latency or prune.target_flops, not both"),
            ("{target_latency: 0.5, remove_channels: 10}", "give prune.target_latency or prune.remove_channels, not both"),
            ("{target_latency: 0.5, stop: {channels: 0.5}}", "give prune.target_latency or prune.stop, not both"),
            ("{target_latency: 0.5, per_step: {channels: 0.1}}", "give prune.target_latency or prune.per_step, not both"),
            ("{target_latency: 1.5}", "key 'prune.target_latency': must be in (0, 1]"),
            ("{round_to: sixteen}", "key 'prune.round_to': expected a positive integer or auto, got 'sixteen'"),
            ("{round_to: 0}", "key 'prune.round_to': expected a positive integer or auto, got '0'"),
            ("{round_slack: 1}", "key 'prune.round_slack': must be in [0, 1)"),
            ("{latency: {batch: 0}}", "key 'prune.latency.batch': must be at least 1"),
            ("{latency: {threads: 2}}", "unknown key 'prune.latency.threads'"),
        ]
        for (prune, message) in cases {
            XCTAssertThrowsError(try recipe(prune), prune) { XCTAssertTrue("\($0)".contains(message), "\(prune): \($0)") }
        }
    }

    /// Every rank cuts to the plan the root made with its (hand-made) table, which the
    /// other ranks do not have.
    func testARoundTimesTheKernelsOfTheNetworksPrecision() throws {
        // A bf16 network's round fills (and reads) the bf16 table of the cache file, an fp32
        // network's the fp32 one: their kernels prefer different widths (bf16 has no
        // Winograd and pairs input channels). Convolutions are timed here, but no time is
        // compared: only which table the round used.
        try XCTSkipUnless(Precision.nativeBF16, "bf16 kernels need native bfloat16 (AVX512_BF16 or AMX)")
        let arch = ResNetArchitecture.resnet(.resnet18, baseWidth: 4)
        let path = dir.appendingPathComponent("latency.json").path
        func round(_ precision: Precision) throws -> PruneOutcome {
            let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 6), seed: 5)
            net.precision = precision
            var settings = PruneSettings()
            settings.criterion = .l1
            (settings.ranking.height, settings.ranking.width, settings.ranking.latencyBatch) = (64, 32, 2)
            settings.ranking.roundAuto = true
            (settings.latencyCache, settings.latencyRepeats, settings.latencyCheck) = (path, 1, false)
            return try PruneRound.run(net: net, settings: settings, comm: LocalCommunicator(), gradients: nil) {
                throw PruningError("l1 needs no data")
            }
        }
        let bf16 = try round(.bf16)
        XCTAssertEqual(bf16.net.precision, .bf16)
        let machine = LatencyCache.currentMachine(threads: DNNL.threads)
        let bf16Machine = LatencyCache.currentMachine(threads: DNNL.threads, precision: .bf16)
        XCTAssertTrue(bf16Machine.contains("| bf16"), bf16Machine)
        XCTAssertEqual(Set(try LatencyCache(path: path).load().keys), [bf16Machine])
        XCTAssertTrue(try XCTUnwrap(bf16.latency).contains("| bf16"), bf16.latency ?? "")
        _ = try round(.fp32)
        let tables = try LatencyCache(path: path).load()
        XCTAssertEqual(Set(tables.keys), [machine, bf16Machine])
        XCTAssertFalse(tables[machine]?.isEmpty ?? true)
        XCTAssertFalse(tables[bf16Machine]?.isEmpty ?? true)
    }

    func testLatencyRoundOnTwoRanksFollowsTheRootsTable() throws {
        let arch = ResNetArchitecture.resnet(.resnet50, baseWidth: 16, lastStride: 1)
        let lock = NSLock()
        nonisolated(unsafe) var results: [Int: (PrunePlan, Double, String?)] = [:]
        try ThreadWorld(size: 2).run { rank, comm in
            let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 6), seed: 5)
            var settings = PruneSettings()
            settings.criterion = .l1
            settings.ranking.height = 64
            settings.ranking.width = 32
            settings.ranking.latencyBatch = 2
            settings.ranking.targetFLOPs = nil
            settings.ranking.targetLatency = 0.5
            settings.latencyCheck = false
            if rank == 0 { settings.latencyTable = LatencyRankingTable.make(arch) }
            let outcome = try PruneRound.run(net: net, settings: settings, comm: comm, gradients: nil) {
                throw PruningError("l1 needs no data")
            }
            lock.lock()
            results[rank] = (outcome.plan, outcome.net.store.checksum().weighted, outcome.latency)
            lock.unlock()
        }
        let (plan, sum, line) = try XCTUnwrap(results[0])
        XCTAssertEqual(results[1]?.0, plan)
        XCTAssertEqual(results[1]?.1, sum)
        XCTAssertNil(results[1]?.2, "only the root reports")
        XCTAssertLessThanOrEqual(try XCTUnwrap(plan.latencyAfter), 0.5 * (plan.latencyBefore ?? 0))
        XCTAssertTrue(try XCTUnwrap(line).hasPrefix("predicted convolution latency at batch 2, 64x32: "), "\(line ?? "")")
    }
}

extension LatencyPruningTests {
    /// One rank's latency round with a stand-in for the whole network's time: the table's
    /// prediction plus `overhead` x the unpruned prediction (work the table leaves out).
    func checkedRound(overhead: Double) throws -> (plan: PrunePlan, measured: Double, line: String) {
        let arch = ResNetArchitecture.resnet(.resnet50, baseWidth: 16, lastStride: 1)
        let table = LatencyRankingTable.make(arch)
        let unpruned = try table.milliseconds(arch, batch: 2, height: 64, width: 32)
        let time: @Sendable (ResNetArchitecture) throws -> Double = { a in
            try table.milliseconds(a, batch: 2, height: 64, width: 32) + overhead * unpruned
        }
        let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 6), seed: 5)
        var settings = PruneSettings()
        settings.criterion = .l1
        (settings.ranking.height, settings.ranking.width, settings.ranking.latencyBatch) = (64, 32, 2)
        (settings.ranking.targetFLOPs, settings.ranking.targetLatency) = (nil, 0.5)
        (settings.latencyTable, settings.latencyTimer) = (table, time)
        let outcome = try PruneRound.run(net: net, settings: settings, comm: LocalCommunicator(), gradients: nil) {
            throw PruningError("l1 needs no data")
        }
        return (outcome.plan, try time(outcome.plan.after) / time(arch), try XCTUnwrap(outcome.latency))
    }

    func testCheckReplansALatencyTargetTheWholeNetworkMissed() throws {
        // The table alone would stop at 50% of its prediction, which measures 60% here.
        let missed = try checkedRound(overhead: 0.25)
        XCTAssertLessThanOrEqual(missed.measured, 0.53, missed.line)
        XCTAssertLessThan(try XCTUnwrap(missed.plan.latencyAfter), 0.45 * (missed.plan.latencyBefore ?? 0),
                          "the table was aimed below the target")
        XCTAssertTrue(missed.line.contains("replan(s) aiming the table below the target"), missed.line)
        // A table that predicts the whole network needs no replan.
        let exact = try checkedRound(overhead: 0)
        XCTAssertLessThanOrEqual(exact.measured, 0.5 * 1.02, exact.line)
        XCTAssertFalse(exact.line.contains("replan"), exact.line)
    }
}

/// A hand-made table for the two-rank round: every shape a bottleneck ResNet's inner
/// groups can give, priced by MACs (1.6x when a width is not a multiple of 8).
enum LatencyRankingTable {
    static func make(_ arch: ResNetArchitecture) -> LatencyTable {
        var entries: [ConvShape: Double] = [:]
        for s in arch.inferenceConvolutions(batch: 2, height: 64, width: 32) {
            let isStem = s.inChannels == 3, isConv2 = s.kernel == 3 && !isStem
            let ins = isConv2 || s.post == .sum ? Array(1...s.inChannels) : [s.inChannels]
            let outs = isConv2 || (s.kernel == 1 && s.post == .relu) ? Array(1...s.outChannels) : [s.outChannels]
            for c in ins {
                for k in outs {
                    var t = s
                    t.inChannels = c
                    t.outChannels = k
                    let (oh, ow) = t.outputSize
                    let macs = Double(t.batch * oh * ow * c * k * t.kernel * t.kernel)
                    entries[t] = macs / 1e6 * (c % 8 == 0 && k % 8 == 0 ? 1 : 1.6)
                }
            }
        }
        return LatencyTable(machine: "hand-made | 2 threads", entries: entries)
    }
}
