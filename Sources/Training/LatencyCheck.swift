// LatencyCheck: what the root does after a latency-aware plan: keeps the table's newly
// timed shapes in the cache file, times the network before and after the plan once
// with the inference kernels (when `prune.latency.check`), and says in one line what
// the table predicted and what was measured.
import Distributed
import Foundation
import NN
import Pruning
import Tensors

enum LatencyCheck {
    /// The line for `plan`, made with `table`; saves the cache first when the table grew.
    static func report(_ plan: PrunePlan, table: LatencyTable, settings: PruneSettings,
                       options o: RankingOptions) throws -> String {
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
                          o.referenceLatency == nil ? "network pruned" : "unpruned network")
        if settings.latencyCheck {
            let measured = try [plan.before, plan.after].map { arch in
                try ModelBenchmark.run(training: false, architecture: arch, archName: arch.depthName, height: o.height,
                                       width: o.width, batch: o.latencyBatch, threads: DNNL.threads, steps: 5,
                                       comm: LocalCommunicator(), task: plan.head.task).ms_per_step
            }
            line += String(format: "; measured whole network: %.1f -> %.1f ms (%.1f%%, %.2fx faster)", measured[0],
                           measured[1], 100 * measured[1] / measured[0], measured[0] / measured[1])
        }
        parts.append(line)
        return parts.joined(separator: "; ")
    }
}
