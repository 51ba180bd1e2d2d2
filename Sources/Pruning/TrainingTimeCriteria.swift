// TrainingTimeCriteria: the criteria that act while the network trains. Network
// slimming's L1 penalty on BN scales; auto-balanced filter pruning's regularizer
// (Ding et al. 2018): per group, the filters L1 ranks below the cut are pulled to zero
// (weakest hardest) and the others pushed up by the same total amount; progressive soft
// filter pruning (He et al. 2018): the lowest-L2 filters zeroed after each epoch, at a
// rate rising exponentially to the target, still trained in between.
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
    /// network's FLOPs, per group (empty for groups outside `groups`).
    public static func weakChannels(scores: [[Double]], net: ReIDNet, map: GroupMap, fraction: Double,
                                    options: RankingOptions) throws -> [[Int]] {
        var o = options
        o.mode = .layerwise
        o.targetFLOPs = fraction
        o.referenceFLOPs = nil
        let plan = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "weak")
        return map.groups.map { g in
            guard let keep = plan.kept[g.name] else { return [] }
            let kept = Set(keep)
            return (0..<g.channels).filter { !kept.contains($0) }
        }
    }

    /// Auto-balanced regularizer gradient: for weak filter k of m (weakest first) the
    /// coefficient alpha (1 - k / m) on d|w|^2, for strong filters minus the same total
    /// shared equally, added to the producers' weight gradients.
    public static func addAutoBalancedPenalty(_ net: ReIDNet, map: GroupMap, weak: [[Int]], scores: [[Double]],
                                              alpha: Float) {
        let s = net.store
        for (g, group) in map.groups.enumerated() where !weak[g].isEmpty && weak[g].count < group.channels {
            let ordered = weak[g].sorted { scores[g][$0] < scores[g][$1] }
            var theta = [Float](repeating: 0, count: group.channels)
            let m = Float(ordered.count)
            for (k, c) in ordered.enumerated() { theta[c] = alpha * (1 - Float(k) / m) }
            let total = theta.reduce(0, +)
            let strong = Float(group.channels - ordered.count)
            let weakSet = Set(ordered)
            for c in 0..<group.channels where !weakSet.contains(c) { theta[c] = -total / strong }
            for p in group.producers {
                let i = s.lookup("\(p[0]).weight")!.index
                let w = s.parameter(i), grad = s.gradient(i)
                let per = w.count / group.channels
                for c in 0..<group.channels where theta[c] != 0 {
                    for t in 0..<per { grad[c * per + t] += 2 * theta[c] * w[c * per + t] }
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

    /// Progressive rate at epoch `epoch` of `total`: final (1 - e^{-k t/T}) / (1 - e^{-k}).
    public static func softRate(final: Double, epoch: Int, total: Int, k: Double = 4) -> Double {
        guard total > 0 else { return final }
        let t = min(Double(epoch) / Double(total), 1)
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
