// LatencyCheck: what the root does after a latency-aware plan: keeps the table's newly
// timed shapes in the cache file, times the network before and after the plan with the
// inference kernels (when `prune.latency.check`), replans a latency target that the
// whole network missed (the table predicts convolutions only), and says in one line what
// the table predicted and what was measured.
import Distributed
import Foundation
import NN
import Pruning
import Tensors

enum LatencyCheck {
    /// The line for `plan`, made with `table`; saves the cache first when the table grew.
    static func report(_ plan: PrunePlan, table: LatencyTable, settings: PruneSettings,
                       options o: RankingOptions, measured: Measured?) throws -> String {
        var parts: [String] = []
        if settings.latencyTable == nil {
            let path = settings.latencyCache.isEmpty ? LatencyCache.defaultPath() : settings.latencyCache
            if table.measured > 0 { try LatencyCache(path: path).save(table) }
            parts.append("latency table (\(table.machine)): \(table.measured) new convolution shape(s) timed, cache \(path)")
        }
        guard let before = plan.latencyBefore, let after = plan.latencyAfter else { return parts.joined(separator: "; ") }
        let reference = o.referenceLatency ?? before
        var line = String(format: "predicted convolution latency at batch %d, %dx%d: %.1f -> %.1f ms (%.1f%% of the %@)",
                          o.latencyBatch, o.height, o.width, before, after, 100 * after / reference,
                          o.referenceLatency == nil ? "network before this round" : "unpruned network")
        if let measured {
            line += String(format: "; measured whole network: %.1f -> %.1f ms (%.1f%%, %.2fx faster)", measured.before,
                           measured.after, 100 * measured.after / measured.before, measured.before / measured.after)
            if measured.replans > 0 {
                line += " after \(measured.replans) replan(s) aiming the table below the target"
            }
        }
        parts.append(line)
        return parts.joined(separator: "; ")
    }

    /// Milliseconds of one inference step of `arch` at the plan's batch and size on this
    /// machine's kernels of `precision`.
    static func timer(_ o: RankingOptions, task: HeadTask, precision: Precision) -> (ResNetArchitecture) throws -> Double {
        { arch in
            try ModelBenchmark.run(training: false, architecture: arch, archName: arch.depthName, height: o.height,
                                   width: o.width, batch: o.latencyBatch, threads: DNNL.threads, steps: 20,
                                   comm: LocalCommunicator(), task: task, precision: precision).ms_per_step
        }
    }

    /// The whole network timed before and after a plan, and how many times it was replanned.
    struct Measured { var before: Double, after: Double, replans: Int }

    /// Rounds of timing in `measureAndCorrect`: the networks compared are timed in turn,
    /// this many times over, and each keeps its fastest time, so that a slow spell of the
    /// machine (at batch 1 a step is a few ms and the same network varies by 25% from one
    /// run to the next) neither hides nor invents a missed target.
    static let rounds = 3

    /// The fastest of `rounds` timings of each of `archs`, timed in turn.
    static func interleaved(_ archs: [ResNetArchitecture], time: (ResNetArchitecture) throws -> Double) throws -> [Double] {
        var best = [Double](repeating: .infinity, count: archs.count)
        for _ in 0..<rounds {
            for (i, a) in archs.enumerated() { best[i] = min(best[i], try time(a)) }
        }
        return best
    }

    /// Times the network before and after `plan` (interleaved, fastest of `rounds`); when
    /// a latency target (of the network being pruned) is missed by more than 2% of it,
    /// plans again with the table's target lowered by the measured shortfall (target x
    /// target / measured share), up to `attempts` times, and keeps the fastest plan that
    /// was measured.
    static func measureAndCorrect(_ plan: PrunePlan, options o: RankingOptions, time: (ResNetArchitecture) throws -> Double,
                                  attempts: Int = 3,
                                  replan: (RankingOptions) throws -> PrunePlan) throws -> (PrunePlan, Measured) {
        let first = try interleaved([plan.before, plan.after], time: time)
        var before = first[0]
        var best = (plan: plan, after: first[1])
        var replans = 0
        guard let target = o.targetLatency, o.referenceLatency == nil else {
            return (best.plan, Measured(before: before, after: best.after, replans: 0))
        }
        var aim = o
        var share = best.after / before
        while share > target * 1.02 && replans < attempts {
            aim.targetLatency = max(0.01, aim.targetLatency! * target / share)
            let next = try replan(aim)
            replans += 1
            let pair = try interleaved([plan.before, next.after], time: time)
            before = min(before, pair[0])
            share = pair[1] / before
            if pair[1] < best.after { best = (next, pair[1]) }
        }
        return (best.plan, Measured(before: before, after: best.after, replans: replans))
    }
}
