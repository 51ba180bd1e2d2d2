// TrainingTimeCriteria: the criteria that act while the network trains. Network
// slimming's L1 penalty on BN scales; auto-balanced filter pruning's regulariser
// (Ding et al. 2018): per group, the filters L1 ranks below the cut are pulled to zero
// with log-ratio weights and the others pushed up, balanced to sum to zero; progressive
// soft filter pruning (He et al. 2018): the lowest-L2 filters zeroed after each epoch, at
// a rate rising exponentially to the target (set by its quarter point), still trained.
import Foundation
import NN
import Tensors

public enum TrainingTimeCriteria {
    /// Adds lambda sign(gamma) to the gradients of the producers' BN scales (sparsity
    /// penalty of network slimming).
    public static func addBNScalePenalty(_ net: ReIDNet, map: GroupMap, groups: [Int], lambda: Float) {
        let s = net.store
        for g in groups {
            for p in map.groups[g].producers {
                let i = s.lookup("\(p[1]).weight")!.index
                let gamma = s.parameter(i), grad = s.gradient(i)
                for c in 0..<gamma.count { grad[c] += lambda * (gamma[c] > 0 ? 1 : (gamma[c] < 0 ? -1 : 0)) }
            }
        }
    }

    /// Channels below the cut of a layer-wise ranking of `scores` at `fraction` of the
    /// network's FLOPs (or of `options.removeChannels` channels when set), per group (empty for groups outside `groups`).
    public static func weakChannels(scores: [[Double]], net: ReIDNet, map: GroupMap, fraction: Double,
                                    options: RankingOptions) throws -> [[Int]] {
        var o = options
        o.mode = .layerwise
        if o.removeChannels == nil { o.targetFLOPs = fraction }
        o.referenceFLOPs = nil
        let plan = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "weak")
        return map.groups.map { g in
            guard let keep = plan.kept[g.name] else { return [] }
            let kept = Set(keep)
            return (0..<g.channels).filter { !kept.contains($0) }
        }
    }

    /// Auto-balanced regularisation coefficients of one group (Ding et al. 2018), from the
    /// filters' L1 norms `norms` (C) and the weak set `weak` (the channels below the cut).
    /// A weak filter j gets theta_j = 1 + ln(w_max / n_j), w_max the largest weak norm
    /// (the weaker, the harder it is pulled to zero); a strong filter j gets
    /// -(1 + ln(n_j / s_min)) scaled by (sum of the weak thetas) / (sum of the strong
    /// magnitudes), s_min the smallest strong norm, so that the coefficients sum to zero.
    /// Norms are floored at 1e-12. Returns C coefficients (all 0 when either set is empty).
    public static func autoBalancedCoefficients(norms: [Double], weak: [Int]) -> [Double] {
        let c = norms.count
        let weakSet = Set(weak)
        let strong = (0..<c).filter { !weakSet.contains($0) }
        guard !weak.isEmpty, !strong.isEmpty else { return [Double](repeating: 0, count: c) }
        let n = norms.map { max($0, 1e-12) }
        let weakMax = weak.map { n[$0] }.max()!, strongMin = strong.map { n[$0] }.min()!
        var theta = [Double](repeating: 0, count: c)
        for j in weak { theta[j] = 1 + log(weakMax / n[j]) }
        let raw = strong.map { 1 + log(n[$0] / strongMin) }
        let balance = weak.reduce(0) { $0 + theta[$1] } / raw.reduce(0, +)
        for (j, r) in zip(strong, raw) { theta[j] = -r * balance }
        return theta
    }

    /// Auto-balanced regulariser gradient: (alpha / 2) theta_j |w_j|^2 summed over every
    /// filter of the groups with a weak set (coefficients from `autoBalancedCoefficients`
    /// of the L1 `scores`), i.e. alpha theta_j w_j added to the producers' weight gradients.
    public static func addAutoBalancedPenalty(_ net: ReIDNet, map: GroupMap, weak: [[Int]], scores: [[Double]],
                                              alpha: Float) {
        let s = net.store
        for (g, group) in map.groups.enumerated() where !weak[g].isEmpty && weak[g].count < group.channels {
            let theta = autoBalancedCoefficients(norms: scores[g], weak: weak[g]).map(Float.init)
            for p in group.producers {
                let i = s.lookup("\(p[0]).weight")!.index
                let w = s.parameter(i), grad = s.gradient(i)
                let per = w.count / group.channels
                for c in 0..<group.channels where theta[c] != 0 {
                    for t in 0..<per { grad[c * per + t] += alpha * theta[c] * w[c * per + t] }
                }
            }
        }
    }

    /// Soft filter pruning's final removal share of every group: a layer-wise cut of the
    /// L2 filter norms at `fraction` of the FLOPs.
    public static func softFinalShares(_ net: ReIDNet, map: GroupMap, fraction: Double,
                                       options: RankingOptions) throws -> [Double] {
        let scores = WeightCriterion.scores(.l2, net: net, map: map)
        let weak = try weakChannels(scores: scores, net: net, map: map, fraction: fraction, options: options)
        return map.groups.indices.map { Double(weak[$0].count) / Double(map.groups[$0].channels) }
    }

    /// The rate constant k of PSFP's schedule P(t) = a e^{-k t / T} + b with P(0) = 0 and
    /// P(T) = final (He et al.): the one that reaches a quarter of the final rate at
    /// epoch `quarter` of `total` (T), solved by bisection. quarter = T / 4 is the linear
    /// schedule (k = 0); earlier quarter points give k > 0 (fast start), later ones k < 0.
    public static func softK(quarterEpoch quarter: Double, total: Int) throws -> Double {
        guard total > 0, quarter > 0, quarter < Double(total) else {
            throw PruningError("prune.soft_quarter_epoch must be in (0, \(total)) (the epochs before the cut), got \(quarter)")
        }
        let x = quarter / Double(total)
        func share(_ k: Double) -> Double { abs(k) < 1e-9 ? x : (1 - exp(-k * x)) / (1 - exp(-k)) }
        // share(k) rises with k from 0 (k -> -inf) to 1 (k -> +inf).
        var lo = -200.0, hi = 200.0
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if share(mid) < 0.25 { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    /// Progressive rate at epoch `epoch` of `total`: final (1 - e^{-k t/T}) / (1 - e^{-k})
    /// (k = 0: final t / T).
    public static func softRate(final: Double, epoch: Int, total: Int, k: Double = 4) -> Double {
        guard total > 0 else { return final }
        let t = min(Double(epoch) / Double(total), 1)
        guard abs(k) > 1e-9 else { return final * t }
        return final * (1 - exp(-k * t)) / (1 - exp(-k))
    }

    /// Zeroes (softly: they keep training) the filters with the lowest L2 norm: the first
    /// `share` of each group's channels, in every producer.
    public static func zeroWeakest(_ net: ReIDNet, map: GroupMap, groups: [Int], shares: [Double]) {
        let s = net.store
        let scores = WeightCriterion.scores(.l2, net: net, map: map)
        for g in groups {
            let group = map.groups[g]
            let n = Int((shares[g] * Double(group.channels)).rounded(.down))
            guard n > 0 else { continue }
            let weakest = scores[g].indices.sorted { scores[g][$0] < scores[g][$1] }.prefix(min(n, group.channels - 1))
            for p in group.producers {
                let w = s.parameter(s.lookup("\(p[0]).weight")!.index)
                let per = w.count / group.channels
                for c in weakest { (w.data + c * per).update(repeating: 0, count: per) }
            }
        }
        s.parametersChanged()
    }
}
