// TrainingTimeCriterionHook: criteria that act while the network trains, until the
// schedule's cut at prune.start_epoch: network slimming's L1 penalty on BN scales, the
// auto-balanced regularizer (weak channels re-ranked every epoch) and progressive soft
// filter pruning's zeroing after each epoch. The maths is in Pruning's
// TrainingTimeCriteria; this hook decides when it runs.
import NN
import Pruning

final class TrainingTimeCriterionHook: TrainingHook {
    let schedule: PruneSchedule
    /// The network the hook was set up for; once a cut replaces it, the hook is done.
    let net: ReIDNet
    let map: GroupMap
    let groups: [Int]
    /// Soft filter pruning: each group's final removal share (a layer-wise cut at the target).
    let finalShares: [Double]
    private var weak: [[Int]] = []
    private var weakEpoch = -1

    var kind: CriterionKind { schedule.settings.criterion }
    var cutEpoch: Int { schedule.startEpoch }
    var target: Double { schedule.settings.ranking.targetFLOPs ?? 0.5 }
    /// The cut's ranking (a channel stop as a channel count of this network).
    let options: RankingOptions
    /// Soft filter pruning's rate constant (from the quarter-point epoch when given).
    let softK: Double

    init(schedule: PruneSchedule, net: ReIDNet) throws {
        self.schedule = schedule
        self.net = net
        let map = GroupMap.build(net.architecture, head: net.headConfig)
        self.map = map
        groups = map.prunable(schedule.settings.ranking.scope)
        let channels = schedule.prunableChannels(net.architecture, head: net.headConfig)
        options = schedule.roundRanking(0, of: 1, current: channels, unpruned: channels)
        softK = try schedule.softQuarterEpoch.map { try TrainingTimeCriteria.softK(quarterEpoch: $0, total: schedule.startEpoch) }
            ?? schedule.softK
        finalShares = schedule.settings.criterion == .softFilter
            ? try TrainingTimeCriteria.softFinalShares(net, map: map, fraction: options.targetFLOPs ?? 0.5, options: options)
            : []
    }

    /// Whether the schedule's criterion needs this hook at all.
    static func needed(_ schedule: PruneSchedule) -> Bool {
        schedule.bnL1 > 0 || schedule.settings.criterion == .autoBalanced || schedule.settings.criterion == .softFilter
    }

    func beforeUpdate(_ t: Trainer) throws {
        guard t.net === net, t.state.epoch < cutEpoch else { return }
        if schedule.bnL1 > 0 {
            TrainingTimeCriteria.addBNScalePenalty(net, map: map, groups: groups, lambda: schedule.bnL1)
        }
        if kind == .autoBalanced {
            let scores = WeightCriterion.scores(.l1, net: net, map: map)
            if weakEpoch != t.state.epoch {
                weak = try TrainingTimeCriteria.weakChannels(scores: scores, net: net, map: map, fraction: options.targetFLOPs ?? target,
                                                             options: options)
                weakEpoch = t.state.epoch
            }
            TrainingTimeCriteria.addAutoBalancedPenalty(net, map: map, weak: weak, scores: scores, alpha: schedule.alpha)
        }
    }

    func afterEpoch(_ t: Trainer) throws {
        let epoch = t.state.epoch
        guard kind == .softFilter, t.net === net, epoch <= cutEpoch else { return }
        let shares = finalShares.map { TrainingTimeCriteria.softRate(final: $0, epoch: epoch, total: cutEpoch, k: softK) }
        TrainingTimeCriteria.zeroWeakest(net, map: map, groups: groups, shares: shares)
    }
}
