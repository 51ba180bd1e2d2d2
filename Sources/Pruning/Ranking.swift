// Ranking: from scores to a PrunePlan. Layer-wise ranking removes the same share of
// every group's channels; global ranking removes the lowest normalized scores across all
// groups (normalizers: none, per-group L2, mean, max). Both stop at a FLOPs target (a
// fraction of the unpruned model's), a latency target (predicted by a LatencyTable;
// Ranking+Latency) or a channel count, never take a group below its floor (at least one
// channel and a share of its channels, 10% unless configured), and can round every
// group's width up to a multiple of N or to a width the latency table prefers. Groups a
// plan leaves below the default share are named in a warning (`Ranking.collapsed`).
import Foundation
import NN

public enum RankingMode: String, Codable, Sendable { case global, layerwise }
public enum Normalizer: String, Codable, CaseIterable, Sendable { case none, l2, mean, max }

public struct RankingOptions: Codable, Sendable {
    public var mode = RankingMode.global
    public var normalizer = Normalizer.l2
    public var scope = PruneScope.inner
    /// Stop when the network's FLOPs are at most this fraction of `referenceFLOPs`.
    public var targetFLOPs: Double? = 0.5
    /// Or stop after removing this many channels (with both, whichever comes first).
    public var removeChannels: Int?
    /// FLOPs that `targetFLOPs` is a fraction of (the unpruned model's); nil: the
    /// network being pruned.
    public var referenceFLOPs: Int?
    /// Each group keeps at least this share of its channels (and at least one); 0 lets
    /// global ranking take a group down to one channel.
    public var floor = Ranking.defaultFloor
    /// Round each kept width up to a multiple of this (1: no rounding).
    public var roundTo = 1
    /// Or choose each pruned group's width among nearby ones by the latency table
    /// (`round_to: auto`), never more than `roundSlack` of the ranking's choice below it.
    public var roundAuto = false
    public var roundSlack = Ranking.defaultRoundSlack
    /// Stop when the predicted latency is at most this fraction of `referenceLatency`
    /// (instead of a FLOPs target or a channel count).
    public var targetLatency: Double?
    /// Predicted milliseconds `targetLatency` is a fraction of (the unpruned model's);
    /// nil: the network being pruned.
    public var referenceLatency: Double?
    /// The batch the latency table predicts for.
    public var latencyBatch = 32
    public var height = 256
    public var width = 128
    public init() {}
}

public enum Ranking {
    /// The share of every group a plan keeps unless configured otherwise: without it,
    /// global ranking of a barely trained network can leave whole layers at one channel.
    public static let defaultFloor = 0.1

    static func flops(_ arch: ResNetArchitecture, _ o: RankingOptions) -> Int {
        FLOPsCounter.count(arch, height: o.height, width: o.width).flops
    }

    /// Scores divided by their L2 norm.
    public static func normalizedL2(_ s: [Double]) -> [Double] { normalized(s, .l2) }

    static func normalized(_ s: [Double], _ n: Normalizer) -> [Double] {
        let d: Double
        switch n {
        case .none: d = 1
        case .l2: d = s.reduce(0) { $0 + $1 * $1 }.squareRoot()
        case .mean: d = s.reduce(0, +) / Double(max(s.count, 1))
        case .max: d = s.max() ?? 1
        }
        return d > 0 ? s.map { $0 / d } : s
    }

    /// A plan for `net` from per-group scores (indexed like `map.groups`). `latency`
    /// predicts milliseconds for a latency target and `round_to: auto` (required by them).
    public static func plan(scores: [[Double]], net: ReIDNet, map: GroupMap, options o: RankingOptions,
                            criterion: String, latency: LatencyTable? = nil) throws -> PrunePlan {
        let arch = net.architecture
        let prunable = Set(map.prunable(o.scope))
        let before = flops(arch, o)
        let target = o.targetFLOPs.map { Int(Double(o.referenceFLOPs ?? before) * $0) }
        if o.targetLatency != nil && (o.targetFLOPs != nil || o.removeChannels != nil) {
            throw PruningError("give a latency target or a FLOPs target / channel count, not both")
        }
        guard target != nil || o.removeChannels != nil || o.targetLatency != nil else {
            throw PruningError("ranking needs a FLOPs or latency target or a channel count")
        }
        if let t = o.targetFLOPs, !(t > 0 && t <= 1) { throw PruningError("target FLOPs must be in (0, 1], got \(t)") }
        if let t = o.targetLatency, !(t > 0 && t <= 1) { throw PruningError("target latency must be in (0, 1], got \(t)") }
        if (o.targetLatency != nil || o.roundAuto) && latency == nil {
            throw PruningError("a latency target and round_to auto need a latency table")
        }
        func predicted(_ counts: [Int]) throws -> Double {
            try latency!.milliseconds(arch.withGroupCounts(counts, map: map), batch: o.latencyBatch, height: o.height,
                                      width: o.width)
        }
        let full = map.groups.map(\.channels)
        /// Channels a count vector removes from the unpruned network.
        func channelsRemoved(_ c: [Int]) -> Int { zip(full, c).reduce(0) { $0 + $1.0 - $1.1 } }
        let latencyBefore = latency == nil ? nil : try predicted(full)
        let latencyTarget = o.targetLatency.map { (o.referenceLatency ?? latencyBefore!) * $0 }
        let floors = map.groups.map { max(1, Int((Double($0.channels) * o.floor).rounded(.up))) }
        // Order of each group's channels from least to most important (ties: lower index first).
        let order = scores.map { s in s.indices.sorted { s[$0] < s[$1] || (s[$0] == s[$1] && $0 < $1) } }
        var counts = full
        func done(_ removed: Int) throws -> Bool {
            if let n = o.removeChannels, removed >= n { return true }
            if let target { return flops(arch.withGroupCounts(counts, map: map), o) <= target }
            if let latencyTarget { return try predicted(counts) <= latencyTarget }
            return false
        }
        switch o.mode {
        case .global where latencyTarget != nil:
            try globalByLatency(&counts, scores: scores, order: order, prunable: prunable.sorted(), floors: floors,
                                normalizer: o.normalizer, target: latencyTarget!, predicted: predicted)
        case .global:
            var candidates: [(Double, Int, Int)] = []  // (normalized score, group, rank within group)
            for g in prunable {
                let n = normalized(scores[g], o.normalizer)
                for (r, c) in order[g].enumerated() { candidates.append((n[c], g, r)) }
            }
            candidates.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
            var removed = 0
            for (_, g, _) in candidates {
                if try done(removed) { break }
                if counts[g] <= floors[g] { continue }
                counts[g] -= 1
                removed += 1
            }
        case .layerwise:
            func apply(_ ratio: Double) -> [Int] {
                map.groups.indices.map { g in
                    prunable.contains(g) ? max(floors[g], map.groups[g].channels - Int((ratio * Double(map.groups[g].channels)).rounded())) : map.groups[g].channels
                }
            }
            // A latency target times each new set of widths: fewer, still fine enough, steps.
            var lo = 0.0, hi = 1.0
            for _ in 0..<(latencyTarget == nil ? 40 : 16) {
                let mid = (lo + hi) / 2
                counts = apply(mid)
                if try done(channelsRemoved(counts)) { hi = mid } else { lo = mid }
            }
            counts = apply(hi)
        }
        if o.roundAuto {
            // How far a count vector is from the stop the ranking met (<= 0: met). With a
            // FLOPs target and a channel count, the ranking stopped at whichever came first.
            var stops: [([Int]) throws -> Double] = []
            if let target { stops.append { Double(flops(arch.withGroupCounts($0, map: map), o) - target) } }
            if let latencyTarget { stops.append { try predicted($0) - latencyTarget } }
            if let n = o.removeChannels {
                stops.append { Double(n - channelsRemoved($0)) }
            }
            let excess: ([Int]) throws -> Double = { c in try stops.map { try $0(c) }.min() ?? 0 }
            try roundAuto(&counts, prunable: prunable.sorted(), floors: floors, full: full, slack: o.roundSlack,
                          flops: { Double(flops(arch.withGroupCounts($0, map: map), o)) }, predicted: predicted,
                          excess: excess)
        } else if o.roundTo > 1 {
            for g in prunable {
                let full = map.groups[g].channels
                counts[g] = min(full, (counts[g] + o.roundTo - 1) / o.roundTo * o.roundTo)
            }
        }
        var kept: [String: [Int]] = [:]
        for g in prunable where counts[g] < map.groups[g].channels {
            kept[map.groups[g].name] = Array(order[g].suffix(counts[g])).sorted()
        }
        let after = arch.withGroupCounts(counts, map: map)
        var plan = PrunePlan(before: arch, after: after, head: net.headConfig, kept: kept, criterion: criterion,
                             ranking: "\(o.mode.rawValue)/\(o.normalizer.rawValue)/\(o.scope.rawValue)",
                             flopsBefore: before, flopsAfter: flops(after, o))
        if latency != nil {
            plan.latencyBefore = latencyBefore
            plan.latencyAfter = try predicted(counts)
        }
        return plan
    }
}

extension Ranking {
    /// What a plan fell short of, in one line, when its FLOPs target was not reached
    /// (every prunable group at its floor, or widths rounded up); nil when it was.
    public static func shortfall(_ plan: PrunePlan, options o: RankingOptions) -> String? {
        if o.targetLatency != nil { return latencyShortfall(plan, options: o) }
        let floors = "every prunable group (scope \(o.scope.rawValue)) is at its floor (prune.floor \(o.floor), at least one channel)"
        if let n = o.removeChannels, o.targetFLOPs == nil {
            let map = GroupMap.build(plan.before, head: plan.head)
            let removed = zip(map.groups, plan.counts(map)).reduce(0) { $0 + $1.0.channels - $1.1 }
            guard removed < n else { return nil }
            return "\(n) channels were to be removed but pruning stopped at \(removed) because \(floors)"
        }
        guard let t = o.targetFLOPs else { return nil }
        let reference = Double(o.referenceFLOPs ?? plan.flopsBefore)
        guard Double(plan.flopsAfter) > reference * t else { return nil }
        let reached = 100 * Double(plan.flopsAfter) / reference
        var why = floors
        if o.roundTo > 1 { why += " or rounded up to a multiple of \(o.roundTo)" }
        return String(format: "the FLOPs target %.1f%% was not reached: pruning stopped at %.1f%% because %@",
                      100 * t, reached, why)
    }
}

extension Ranking {
    /// The groups `plan` leaves with fewer than `share` of their channels (default: the
    /// default floor), as one warning line naming them; nil when there are none.
    public static func collapsed(_ plan: PrunePlan, share: Double = Ranking.defaultFloor) -> String? {
        let map = GroupMap.build(plan.before, head: plan.head)
        let counts = plan.counts(map)
        let low = map.groups.indices.filter { g in
            Double(counts[g]) < (Double(map.groups[g].channels) * share).rounded(.up)
        }
        guard !low.isEmpty else { return nil }
        let names = low.map { "\(map.groups[$0].name) (\(counts[$0]) of \(map.groups[$0].channels))" }
        return String(format: "%d group(s) keep less than %.0f%% of their channels: ", low.count, 100 * share)
            + names.joined(separator: ", ") + " (prune.floor keeps a share of every group)"
    }
}
