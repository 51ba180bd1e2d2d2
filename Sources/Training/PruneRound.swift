// PruneRound: one pruning round across ranks. Every rank builds the same channel groups;
// data criteria accumulate over each rank's own batches; the per-channel sums are
// reduced to the root (entropy: the pooled activations are gathered), which ranks the
// channels and encodes one PrunePlan; the plan is broadcast and every rank applies the
// same surgery, then the ranks compare a checksum of the cut network.
import Distributed
import Foundation
import NN
import Pruning
import ReIDData
import Tensors

public struct PruneSettings: Sendable {
    public var criterion = CriterionKind.taylor
    /// Stop, scope, floor, rounding and input size; its mode and normalizer are resolved
    /// per criterion (`resolvedRanking`).
    public var ranking = RankingOptions()
    /// The recipe's ranking and normalizer for every criterion (nil: the criterion's own).
    public var mode: RankingMode?
    public var normalizer: Normalizer?
    /// Per criterion ranking and normalizer, over `mode`/`normalizer`.
    public var overrides: [CriterionKind: RankingOverride] = [:]
    /// Batches (per rank) a data criterion accumulates over.
    public var batches = 20
    /// Or this many epochs of the rank's batches (set: it wins over `batches`).
    public var scoreEpochs: Int?
    /// Entropy histogram bins.
    public var bins = 32
    /// Fold removed channels' constant outputs into consumers' BN running means.
    public var fold = true
    public var seed: UInt64 = 1
    /// The latency table's cache file (`prune.latency.cache`; empty: LatencyCache.defaultPath()).
    public var latencyCache = ""
    /// Timed passes per convolution shape the table lacks (median).
    public var latencyRepeats = 5
    /// After a latency-aware plan, the root times the network before and after, and
    /// replans a latency target the whole network missed.
    public var latencyCheck = true
    /// A table to use instead of the cache file's (tests: a hand-made one).
    public var latencyTable: LatencyTable?
    /// Times an architecture for the latency check (nil: this machine's inference kernels;
    /// tests give a stand-in).
    public var latencyTimer: (@Sendable (ResNetArchitecture) throws -> Double)?
    /// The architecture a latency target is a fraction of (nil: the network being pruned).
    public var latencyReference: ResNetArchitecture?
    public init() {}

    /// `ranking` with the criterion's mode and normalizer: the criterion's override, else
    /// the recipe's choice, else the criterion's own (`CriterionKind.defaultRanking`).
    public var resolvedRanking: RankingOptions {
        var o = ranking
        let own = criterion.defaultRanking, over = overrides[criterion]
        o.mode = over?.mode ?? mode ?? own.mode
        o.normalizer = over?.normalizer ?? normalizer ?? own.normalizer
        return o
    }
}

extension PruneSettings {
    /// `ranking`, `normalizer` (absent: the criterion's own) and `overrides:
    /// {criterion: {ranking: ..., normalizer: ...}}` of a prune section.
    mutating func codeRanking(_ k: inout RecipeCoder) throws {
        try k.optional("ranking", &mode, start: .global) { k, v in
            try k.choice("ranking", &v, [("global", .global), ("layerwise", .layerwise)])
        }
        try k.optional("normalizer", &normalizer, start: .l2) { k, v in try k.choice("normalizer", &v) }
        var present = k.isReading ? CriterionKind.allCases.filter { k.has("overrides.\($0.rawValue)") }
            : CriterionKind.allCases.filter { overrides[$0] != nil }
        if k.isReading && k.has("overrides") {
            try k.check(k.isSection("overrides"), "overrides", "expected {criterion: {ranking: ..., normalizer: ...}}")
        }
        guard !present.isEmpty || k.isReading else { return }
        try k.nested("overrides") { k in
            for c in present {
                var o = overrides[c] ?? RankingOverride()
                try k.section(c.rawValue, &o)
                overrides[c] = o
            }
        }
        present.removeAll()
    }
}

public struct PruneOutcome {
    public var plan: PrunePlan
    public var net: ReIDNet
    /// Per-group scores the root ranked (empty on other ranks).
    public var scores: [[Double]]
    /// Why the FLOPs target was not reached, when it was not.
    public var shortfall: String?
    /// The groups left below the default floor share, when there are any.
    public var collapsed: String?
    /// The root's line on the latency table and predicted vs measured latency (nil
    /// elsewhere and without a latency table).
    public var latency: String?
}

public enum PruneRound {
    /// Scores, ranks and cuts. `batch` supplies this rank's batches for data criteria;
    /// `gradients` runs forward and backward on one of them without an update (needed
    /// by gradient criteria only).
    /// - Important: Collective — every rank calls this, in the same order.
    public static func run(net: ReIDNet, settings: PruneSettings, comm: Communicator,
                           gradients: ((Batch) throws -> Void)?, batch: () throws -> Batch) throws -> PruneOutcome {
        try comm.watched("pruning round") {
            try watchedRun(net: net, settings: settings, comm: comm, gradients: gradients, batch: batch)
        }
    }

    static func watchedRun(net: ReIDNet, settings: PruneSettings, comm: Communicator,
                           gradients: ((Batch) throws -> Void)?, batch: () throws -> Batch) throws -> PruneOutcome {
        let map = GroupMap.build(net.architecture, head: net.headConfig)
        let scores: [[Double]]
        if settings.criterion.needsData {
            scores = try dataScores(net: net, map: map, settings: settings, comm: comm, gradients: gradients, batch: batch)
        } else {
            scores = comm.isRoot ? WeightCriterion.scores(settings.criterion.cutCriterion, net: net, map: map,
                                                          seed: settings.seed) : []
        }
        var options = settings.resolvedRanking
        var latencyLine: String?
        let usesLatency = options.targetLatency != nil || options.roundAuto
        // The root may time convolutions and the network for a while: the other ranks wait unwatched.
        let decide = {
            try comm.onRoot {
                var table: LatencyTable?
                if usesLatency {
                    let t = try latencyTable(settings, precision: net.precision)
                    table = t
                    if let reference = settings.latencyReference, options.targetLatency != nil {
                        options.referenceLatency = try t.milliseconds(reference, batch: options.latencyBatch,
                                                                      height: options.height, width: options.width)
                    }
                }
                var plan = try Ranking.plan(scores: scores, net: net, map: map, options: options,
                                            criterion: settings.criterion.rawValue, latency: table)
                if let table {
                    var measured: LatencyCheck.Measured?
                    if settings.latencyCheck {
                        (plan, measured) = try LatencyCheck.measureAndCorrect(
                            plan, options: options, time: settings.latencyTimer ?? LatencyCheck.timer(options, task: plan.head.task, precision: net.precision)) {
                                try Ranking.plan(scores: scores, net: net, map: map, options: $0,
                                                 criterion: settings.criterion.rawValue, latency: table)
                            }
                    }
                    latencyLine = try LatencyCheck.report(plan, table: table, settings: settings, options: options,
                                                          measured: measured)
                }
                return plan
            }
        }
        let plan = usesLatency ? try comm.unwatched(decide) : try decide()
        let cut = try Surgery.apply(plan, to: net, fold: settings.fold)
        // Every rank must now hold the same network.
        try Replicas.verify(cut.store, comm: comm, when: "after pruning")
        return PruneOutcome(plan: plan, net: cut, scores: comm.isRoot ? scores : [],
                            shortfall: Ranking.shortfall(plan, options: options), collapsed: Ranking.collapsed(plan),
                            latency: latencyLine)
    }

    /// The given table, else this machine's for kernels of `precision` from the cache
    /// file, timing what it lacks.
    static func latencyTable(_ settings: PruneSettings, precision: Precision) throws -> LatencyTable {
        if let t = settings.latencyTable { return t }
        let cache = LatencyCache(path: settings.latencyCache.isEmpty ? LatencyCache.defaultPath() : settings.latencyCache)
        return try cache.table(machine: LatencyCache.currentMachine(threads: DNNL.threads, precision: precision),
                               valueBytes: precision == .bf16 ? 2 : 4,
                               measure: LatencyCache.timer(repeats: settings.latencyRepeats, precision: precision))
    }

    /// A data criterion's scores at the root (empty elsewhere): every rank accumulates
    /// over its own batches; sums are reduced to the root, entropy's pooled activations
    /// gathered there.
    /// - Important: Collective — every rank calls this, in the same order.
    static func dataScores(net: ReIDNet, map: GroupMap, settings: PruneSettings, comm: Communicator,
                           gradients: ((Batch) throws -> Void)?, batch: () throws -> Batch) throws -> [[Double]] {
        let data = DataCriterion(settings.criterion, net: net, map: map, bins: settings.bins)
        // Scoring must not change the model: training-mode passes update BN running
        // statistics (per rank, without SyncBN), so they are put back afterwards.
        let store = net.store
        let saved = Array(UnsafeBufferPointer(start: store.buffers, count: store.bufferCapacity))
        defer {
            data.detach()
            saved.withUnsafeBufferPointer { store.buffers.update(from: $0.baseAddress!, count: saved.count) }
            store.parametersChanged()
        }
        for _ in 0..<settings.batches {
            let b = try batch()
            if settings.criterion.needsGradients {
                guard let gradients else {
                    throw PruningError("\(settings.criterion.rawValue) needs gradients: no training step was given")
                }
                try gradients(b)
            } else {
                _ = try net.forward(b.images, mode: .inference)
            }
            data.batchDone(images: b.count)
        }
        if settings.criterion == .entropy {
            var perGroup: [[Double]] = []
            for (g, group) in map.groups.enumerated() {
                if let all = try comm.gather(floats: data.pooled[g]) {
                    perGroup.append(DataCriterion.entropy(all.flatMap { $0 }, channels: group.channels, bins: settings.bins))
                }
            }
            return perGroup
        }
        var flat = data.sums.flatMap { $0.map { Float($0) } }
        try flat.withUnsafeMutableBufferPointer { try comm.reduceToRoot($0.baseAddress!, count: $0.count, op: .sum) }
        var offset = 0
        let sums = map.groups.map { g in
            defer { offset += g.channels }
            return flat[offset..<(offset + g.channels)].map(Double.init)
        }
        return comm.isRoot ? DataCriterion.scores(settings.criterion, sums: sums) : []
    }

    /// One line per round: FLOPs, parameters, channels per group, score distribution.
    public static func describe(_ o: PruneOutcome, height: Int, width: Int) -> [String: Any] {
        let before = FLOPsCounter.count(o.plan.before, head: o.plan.head, height: height, width: width)
        let after = FLOPsCounter.count(o.plan.after, head: o.plan.head, height: height, width: width)
        let all = o.scores.flatMap { $0 }.sorted()
        func q(_ p: Double) -> Double { all.isEmpty ? 0 : all[min(all.count - 1, Int(p * Double(all.count - 1)))] }
        let map = GroupMap.build(o.plan.before, head: o.plan.head)
        let counts = o.plan.counts(map)
        let widths = Dictionary(uniqueKeysWithValues: map.groups.enumerated().map { ($1.name, counts[$0]) })
        let widthsBefore = Dictionary(uniqueKeysWithValues: map.groups.map { ($0.name, $0.channels) })
        var fields: [String: Any] = ["event": "prune", "criterion": o.plan.criterion, "ranking": o.plan.ranking,
                "gflops_before": Double(before.flops) / 1e9, "gflops_after": Double(after.flops) / 1e9,
                "params_before": before.params, "params_after": after.params, "channels": widths,
                "channels_before": widthsBefore,
                "score_quantiles": [q(0), q(0.25), q(0.5), q(0.75), q(1)]]
        // Predicted convolution milliseconds (latency table), when the plan used one.
        if let b = o.plan.latencyBefore, let a = o.plan.latencyAfter {
            fields["predicted_ms_before"] = b
            fields["predicted_ms_after"] = a
        }
        return fields
    }
}
