// Ranking+Latency: global ranking to a latency target by importance per millisecond
// saved (as latency-aware pruning such as HALP does: each group's next chunk of least
// important channels costs its summed normalized score and saves the latency the table
// predicts for removing it), `round_to: auto` (each pruned group's width chosen among
// nearby ones so that the target's budget goes where the table says it costs least
// time) and what a missed latency target says.
import Foundation
import NN

extension Ranking {
    /// `round_to: auto` never keeps a group more than this share below the ranking's choice.
    public static let defaultRoundSlack = 0.1
    /// Channels a latency-targeted global ranking removes at once: a group's width moves
    /// along multiples of this (its first chunk brings it onto one).
    public static let latencyChunk = 16

    /// Removes chunks of channels (`latencyChunk`, least important first) from the group
    /// with the least normalized importance per millisecond saved, until `predicted`
    /// (ms of a count vector indexed like the groups) is at most `target` or every
    /// prunable group is at its floor. A chunk that saves nothing goes only when no
    /// chunk saves time (ties: lower group index); when the target is out of reach, the
    /// fastest (and of those the first, widest) widths met on the way are kept: small
    /// widths can be slower.
    static func globalByLatency(_ counts: inout [Int], scores: [[Double]], order: [[Int]], prunable: [Int],
                                floors: [Int], normalizer: Normalizer, target: Double,
                                predicted: ([Int]) throws -> Double) throws {
        let full = counts
        var normalizedScores: [Int: [Double]] = [:]
        for g in prunable { normalizedScores[g] = normalized(scores[g], normalizer) }
        var current = try predicted(counts)
        var fastest = (ms: current, counts: counts)
        defer { if current > target && fastest.ms <= current { counts = fastest.counts } }
        while current > target {
            var best: (ratio: Double, group: Int, size: Int, after: Double)?
            for g in prunable {
                let off = counts[g] % latencyChunk
                let size = min(off == 0 ? latencyChunk : off, counts[g] - floors[g])
                guard size > 0 else { continue }
                let start = full[g] - counts[g]
                let importance = order[g][start..<(start + size)].reduce(0) { $0 + normalizedScores[g]![$1] }
                var trial = counts
                trial[g] -= size
                let after = try predicted(trial)
                let saved = current - after
                let ratio = saved > 0 ? importance / saved : Double.greatestFiniteMagnitude
                if best == nil || ratio < best!.ratio { best = (ratio, g, size, after) }
            }
            guard let b = best else { return }
            counts[b.group] -= b.size
            current = b.after
            if current < fastest.ms { fastest = (current, counts) }
        }
    }

    /// The candidate widths of a group the ranking left at `k` of `full` channels: `k`,
    /// the multiples of 8 from (1 - slack) k (not below the floor) up to k rounded up to
    /// a multiple of 16 (at most `full`), and that upper width itself.
    public static func roundCandidates(chosen k: Int, full: Int, floor: Int, slack: Double) -> [Int] {
        let lo = max(floor, 1, Int((Double(k) * (1 - slack) - 1e-9).rounded(.up)))
        let hi = min(full, (k + 15) / 16 * 16)
        var widths: Set<Int> = [k, hi]
        var w = (lo + 7) / 8 * 8
        while w <= hi {
            widths.insert(w)
            w += 8
        }
        return widths.filter { $0 >= min(lo, k) && $0 <= max(hi, k) }.sorted()
    }

    /// `round_to: auto`: every pruned group starts at its narrowest candidate
    /// (`roundCandidates`); then, while the target holds (`excess`, the target's metric
    /// minus the target, at most 0), the group whose wider candidate costs the least
    /// predicted latency per FLOP it keeps moves up to it (ties: lower group index, then
    /// the narrower candidate). Every wider candidate is weighed, not only the next one:
    /// a slow width (one that misses a kernel's vector width or Winograd) between two fast
    /// ones would otherwise stop a group below the fast width past it, and the budget would
    /// go to costlier groups. Steps that make the network faster go first, and FLOPs that
    /// cost nothing (thin layers bound by memory traffic) are kept before FLOPs that cost
    /// time. When even the narrowest candidates miss the target (predicted time need not
    /// fall with width), the widening starts from the ranking's own widths if they meet
    /// it; when neither does, the ranking's widths are kept (a latency ranking's are the
    /// fastest it met).
    static func roundAuto(_ counts: inout [Int], prunable: [Int], floors: [Int], full: [Int], slack: Double,
                          flops: ([Int]) -> Double, predicted: ([Int]) throws -> Double,
                          excess: ([Int]) throws -> Double) throws {
        var candidates: [Int: [Int]] = [:]
        let chosen = counts
        for g in prunable where counts[g] < full[g] {
            let list = roundCandidates(chosen: counts[g], full: full[g], floor: floors[g], slack: slack)
            candidates[g] = list
            counts[g] = list[0]
        }
        if try excess(counts) > 0 {
            counts = chosen
            guard try excess(counts) <= 0 else { return }
        }
        var ms = try predicted(counts), kept = flops(counts)
        while true {
            var move: (ratio: Double, group: Int, width: Int, ms: Double, kept: Double)?
            for g in candidates.keys.sorted() {
                let list = candidates[g]!
                guard let i = list.firstIndex(of: counts[g]) else { continue }
                for width in list[(i + 1)...] {
                    var trial = counts
                    trial[g] = width
                    guard try excess(trial) <= 0 else { break }
                    let after = try predicted(trial), gained = flops(trial) - kept
                    let ratio = (after - ms) / max(gained, 1)
                    if move == nil || ratio < move!.ratio { move = (ratio, g, width, after, kept + gained) }
                }
            }
            guard let m = move else { return }
            counts[m.group] = m.width
            ms = m.ms
            kept = m.kept
        }
    }

    /// What a latency-targeted plan fell short of, in one line; nil when it was reached.
    static func latencyShortfall(_ plan: PrunePlan, options o: RankingOptions) -> String? {
        guard let t = o.targetLatency, let after = plan.latencyAfter, let before = plan.latencyBefore else { return nil }
        let reference = o.referenceLatency ?? before
        guard after > reference * t * (1 + 1e-9) else { return nil }
        return String(format: "the latency target %.1f%% was not reached: pruning stopped at %.1f%% (predicted) because "
                      + "every prunable group (scope %@) is at its floor (prune.floor %g, at least one channel) or narrower "
                      + "widths were not faster%@",
                      100 * t, 100 * after / reference, o.scope.rawValue, o.floor,
                      o.roundAuto ? " or round_to auto kept it wider" : "")
    }
}
