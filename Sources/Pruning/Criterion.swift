// Criterion: scores every channel of every group (higher = more important). Weight
// criteria read the parameters: L1 and L2 filter norms (Li et al. 2017), BN scale
// (network slimming, Liu et al. 2017), FPGM distance to the other filters (He et al.
// 2019), random. Data criteria accumulate over batches through hooks: first-order Taylor
// (Molchanov et al. 2017: |spatial mean of activation x gradient| per image, summed),
// Taylor on BN parameters (Molchanov et al. 2019: (gamma dgamma + beta dbeta)^2 per
// batch, summed) and the entropy of globally pooled activations in m bins (Luo and Wu
// 2017). For groups with several producers (residual groups) the producers' scores add.
import Foundation
import NN
import Tensors

public enum CriterionKind: String, Codable, CaseIterable, Sendable {
    case l1, l2, taylor, bnTaylor = "bn_taylor", bnScale = "bn_scale", fpgm, entropy, random
    /// Auto-balanced (Ding et al. 2018): training with a regularizer that penalizes the
    /// filters L1 ranks weak and stimulates the strong ones, then an L1 cut.
    case autoBalanced = "auto_balanced"
    /// Progressive soft filter pruning (He et al. 2018): the lowest-L2 filters are zeroed at
    /// every epoch but keep training, at a rate rising exponentially to the target, then an
    /// L2 cut.
    case softFilter = "soft_filter"

    /// The criterion that ranks the final cut.
    public var cutCriterion: CriterionKind {
        switch self {
        case .autoBalanced: return .l1
        case .softFilter: return .l2
        default: return self
        }
    }

    /// The ranking and normalisation of the criterion's own paper: filter-norm, FPGM,
    /// entropy and soft-filter criteria prune every layer at one rate (layer-wise);
    /// first-order Taylor ranks globally after per-layer L2 normalisation (Molchanov et al.
    /// 2017); BN scale and BN Taylor rank globally on raw values (Liu et al. 2017,
    /// Molchanov et al. 2019). Random follows the filter norms.
    public var defaultRanking: (mode: RankingMode, normalizer: Normalizer) {
        switch self {
        case .taylor: return (.global, .l2)
        case .bnScale, .bnTaylor: return (.global, .none)
        case .l1, .l2, .fpgm, .entropy, .random, .autoBalanced, .softFilter: return (.layerwise, .none)
        }
    }

    /// Whether the criterion acts during training before its cut.
    public var trainsBeforeCut: Bool { self == .autoBalanced || self == .softFilter }

    /// Whether scores come from batches of data (accumulated per rank, then summed).
    public var needsData: Bool { self == .taylor || self == .bnTaylor || self == .entropy }
    /// Whether batches must run backward (gradients) or only forward.
    public var needsGradients: Bool { self == .taylor || self == .bnTaylor }
}

public enum WeightCriterion {
    /// Scores of every group from the parameters alone.
    public static func scores(_ kind: CriterionKind, net: ReIDNet, map: GroupMap, seed: UInt64 = 1) -> [[Double]] {
        let s = net.store
        func param(_ n: String) -> Tensor { s.parameter(s.lookup(n)!.index) }
        var rng = SeededRandom(seed: seed)
        return map.groups.map { g in
            var score = [Double](repeating: 0, count: g.channels)
            for producer in g.producers {
                let w = param("\(producer[0]).weight"), gamma = param("\(producer[1]).weight")
                let per = w.count / g.channels
                switch kind {
                case .l1, .l2:
                    for c in 0..<g.channels {
                        var acc = 0.0
                        for t in 0..<per { let v = Double(w[c * per + t]); acc += kind == .l1 ? abs(v) : v * v }
                        score[c] += kind == .l1 ? acc : acc.squareRoot()
                    }
                case .bnScale:
                    for c in 0..<g.channels { score[c] += abs(Double(gamma[c])) }
                case .fpgm:
                    // Sum of distances to the other filters: filters near the geometric median
                    // (small sums) are replaceable by the others.
                    for c in 0..<g.channels {
                        var total = 0.0
                        for d in 0..<g.channels where d != c {
                            var sq = 0.0
                            for t in 0..<per { let x = Double(w[c * per + t] - w[d * per + t]); sq += x * x }
                            total += sq.squareRoot()
                        }
                        score[c] += total
                    }
                case .random:
                    break
                case .taylor, .bnTaylor, .entropy, .autoBalanced, .softFilter:
                    preconditionFailure("WeightCriterion: \(kind.rawValue) is not a weight score (use its cutCriterion)")
                }
            }
            if kind == .random { for c in 0..<g.channels { score[c] = rng.uniform() } }
            return score
        }
    }
}

/// Accumulates a data criterion's per-channel sums while batches run through the network.
public final class DataCriterion {
    public let kind: CriterionKind
    let net: ReIDNet
    let map: GroupMap
    public let bins: Int
    /// Per group, per channel sums (Taylor, BN Taylor), and images seen.
    public private(set) var sums: [[Double]]
    public private(set) var images = 0
    /// Entropy: pooled activations per group (images x channels, appended).
    public private(set) var pooled: [[Float]]
    private var unitGroup: [ObjectIdentifier: Int] = [:]

    public init(_ kind: CriterionKind, net: ReIDNet, map: GroupMap, bins: Int = 32) {
        precondition(kind.needsData, "DataCriterion: \(kind.rawValue) is a weight criterion")
        self.kind = kind
        self.net = net
        self.map = map
        self.bins = bins
        sums = map.groups.map { [Double](repeating: 0, count: $0.channels) }
        pooled = map.groups.map { _ in [] }
        var byConv: [String: Int] = [:]
        for (g, group) in map.groups.enumerated() { for p in group.producers { byConv[p[0]] = g } }
        for unit in net.backbone.units {
            guard let g = byConv[unit.convName] else { continue }
            unitGroup[ObjectIdentifier(unit)] = g
            switch kind {
            case .taylor:
                unit.onBackward = { [unowned self] y, dy in self.taylor(g, y, dy) }
            case .entropy:
                unit.onForward = { [unowned self] y in self.pool(g, y) }
            default:
                break
            }
        }
    }

    /// Removes the hooks.
    public func detach() {
        for unit in net.backbone.units {
            unit.onBackward = nil
            unit.onForward = nil
        }
    }

    /// Call after each backward (BN Taylor reads the gradients) with the batch size.
    public func batchDone(images n: Int) {
        images += n
        guard kind == .bnTaylor else { return }
        let s = net.store
        for (g, group) in map.groups.enumerated() {
            for p in group.producers {
                let gi = s.lookup("\(p[1]).weight")!.index, bi = s.lookup("\(p[1]).bias")!.index
                let gamma = s.parameter(gi), beta = s.parameter(bi), dg = s.gradient(gi), db = s.gradient(bi)
                for c in 0..<group.channels {
                    let v = Double(gamma[c] * dg[c] + beta[c] * db[c])
                    sums[g][c] += v * v
                }
            }
        }
    }

    /// |spatial mean of y * dy| per image and channel, summed over images.
    func taylor(_ g: Int, _ y: Tensor, _ dy: Tensor) {
        let (n, c) = (y.shape[0], y.shape[3]), hw = y.shape[1] * y.shape[2]
        for b in 0..<n {
            var acc = [Double](repeating: 0, count: c)
            let yp = y.data + b * hw * c, gp = dy.data + b * hw * c
            for p in 0..<hw { for k in 0..<c { acc[k] += Double(yp[p * c + k]) * Double(gp[p * c + k]) } }
            for k in 0..<c { sums[g][k] += abs(acc[k] / Double(hw)) }
        }
    }

    /// Globally pooled activations of each image.
    func pool(_ g: Int, _ y: Tensor) {
        let (n, c) = (y.shape[0], y.shape[3]), hw = y.shape[1] * y.shape[2]
        for b in 0..<n {
            var acc = [Float](repeating: 0, count: c)
            let yp = y.data + b * hw * c
            for p in 0..<hw { for k in 0..<c { acc[k] += yp[p * c + k] } }
            pooled[g] += acc.map { $0 / Float(hw) }
        }
    }

    /// Entropy of each channel's pooled activations in `bins` equal bins between their
    /// minimum and maximum (natural log); a constant channel scores 0.
    public static func entropy(_ values: [Float], channels c: Int, bins: Int) -> [Double] {
        let n = values.count / max(c, 1)
        return (0..<c).map { k in
            let v = (0..<n).map { values[$0 * c + k] }
            guard let lo = v.min(), let hi = v.max(), hi > lo else { return 0 }
            var hist = [Int](repeating: 0, count: bins)
            for x in v { hist[min(bins - 1, Int(Float(bins) * (x - lo) / (hi - lo)))] += 1 }
            return hist.filter { $0 > 0 }.reduce(0.0) { e, h in
                let p = Double(h) / Double(n)
                return e - p * log(p)
            }
        }
    }
}

extension DataCriterion {
    /// The scores ranking reads, from the per-channel sums every rank accumulated (summed
    /// over ranks), as they are: Taylor's per-layer L2 normalisation (Molchanov et al.) is
    /// its ranking's default normalizer (`CriterionKind.defaultRanking`), so that
    /// `normalizer: none` ranks raw Taylor sums.
    public static func scores(_ kind: CriterionKind, sums: [[Double]]) -> [[Double]] { sums }
}
