// PruneSchedule: a recipe's `prune:` section: the criterion and ranking of each pruning
// round, and when the rounds run inside a training run.
import Foundation
import Pruning

/// An iterative pruning schedule inside a training run: `steps` rounds, the first after
/// `startEpoch` epochs and then every `every` epochs, each to target^(r / steps) of the
/// unpruned model's FLOPs, fine-tuning in between.
public struct PruneSchedule: Sendable {
    public var settings = PruneSettings()
    public var steps = 1
    public var startEpoch = 0
    public var every = 1
    /// Evaluate right before and right after each round.
    public var evaluate = true
    /// Auto-balanced regularizer strength.
    public var alpha: Float = 1e-3
    /// Network slimming's L1 penalty on the BN scales of prunable groups (0: off).
    public var bnL1: Float = 0
    /// Soft filter pruning's exponential rate constant.
    public var softK = 4.0

    public init() {}

    /// The epochs after which rounds 1...steps run.
    public var epochs: [Int] { (0..<steps).map { startEpoch + $0 * every } }

    public func target(round r: Int) -> Double {
        pow(settings.ranking.targetFLOPs ?? 1, Double(r) / Double(steps))
    }
}

extension PruneSchedule: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.choice("criterion", &settings.criterion)
        try k.choice("ranking", &settings.ranking.mode, [("global", .global), ("layerwise", .layerwise)])
        try k.choice("normalizer", &settings.ranking.normalizer)
        try k.choice("scope", &settings.ranking.scope, [("inner", .inner), ("all", .all)])
        try codeStop(&k)
        try k.double("floor", &settings.ranking.floor)
        try k.int("round_to", &settings.ranking.roundTo)
        try k.int("batches", &settings.batches)
        try k.int("bins", &settings.bins)
        try k.bool("fold", &settings.fold)
        try k.int("steps", &steps)
        try k.int("start_epoch", &startEpoch)
        try k.int("every", &every)
        try k.bool("evaluate", &evaluate)
        try k.float("alpha", &alpha)
        try k.float("bn_l1", &bnL1)
        try k.double("soft_k", &softK)
        try k.check(!settings.criterion.trainsBeforeCut || steps == 1, "steps", "\(settings.criterion.rawValue) acts "
                    + "during training and cuts once at prune.start_epoch; set steps to 1")
    }

    /// Each round stops at `target_flops` of the unpruned model's FLOPs, or after
    /// removing `remove_channels` channels (the FLOPs target then does not apply).
    private mutating func codeStop(_ k: inout RecipeCoder) throws {
        var target = settings.ranking.targetFLOPs ?? RankingOptions().targetFLOPs ?? 1
        if k.isReading || settings.ranking.removeChannels == nil {
            try k.double("target_flops", &target)
            try k.check(target > 0 && target <= 1, "target_flops", "must be in (0, 1]")
        }
        try k.optionalInt("remove_channels", &settings.ranking.removeChannels)
        try k.check((settings.ranking.removeChannels ?? 1) >= 1, "remove_channels", "must be at least 1")
        settings.ranking.targetFLOPs = settings.ranking.removeChannels == nil ? target : nil
    }
}
