// PruneSchedule: a recipe's `prune:` section: the criterion and ranking of each pruning
// round, and when the rounds run inside a training run — one shot, a fixed number of
// rounds to geometric FLOPs targets, or iterative steps of a share of the prunable
// channels until a stop (the study's protocol: `preset: study`).
import Foundation
import NN
import Pruning

/// A pruning schedule inside a training run. Without `perStep`: `steps` rounds, the
/// first after `startEpoch` epochs and then every `every` epochs, each to
/// target^(r / steps) of the unpruned model's FLOPs (or r / steps of the channel stop).
/// With `perStep`: rounds every `every` (retrain_epochs) epochs, each removing that share
/// of the unpruned model's prunable channels, until the stop (`stopChannels` removed, or
/// the FLOPs target); the last planned round goes to the stop; `finalEpochs` follow it.
public struct PruneSchedule: Sendable {
    public var settings = PruneSettings()
    public var steps = 1
    public var startEpoch = 0
    public var every = 1
    /// Share of the unpruned model's prunable channels each iterative round removes.
    public var perStep: Double?
    /// Stop once this share of the unpruned model's prunable channels is gone (instead
    /// of the FLOPs target).
    public var stopChannels: Double?
    /// Epochs of training after the last round; sets train.epochs when given.
    public var finalEpochs: Int?
    /// Evaluate right before and right after each round.
    public var evaluate = true
    /// Auto-balanced regularizer strength.
    public var alpha: Float = 1e-3
    /// Network slimming's L1 penalty on the BN scales of prunable groups (0: off).
    public var bnL1: Float = 0
    /// Soft filter pruning's exponential rate constant (used without `softQuarterEpoch`).
    public var softK = 4.0
    /// Soft filter pruning: the epoch at which a quarter of the final rate is reached
    /// (He et al.'s parametrisation; sets the rate constant).
    public var softQuarterEpoch: Double?

    public init() {}

    /// The study's schedule (Masson et al.): 5% of the prunable channels per step, ranked
    /// over one epoch, four epochs of retraining between steps, until half of them are
    /// gone, then 25 epochs.
    public static var study: PruneSchedule {
        var s = PruneSchedule()
        s.perStep = 0.05
        s.stopChannels = 0.5
        s.settings.ranking.targetFLOPs = nil
        s.settings.scoreEpochs = 1
        s.every = 4
        s.finalEpochs = 25
        return s
    }

    /// The epochs after which rounds 1...steps run (one-shot and fixed-step schedules).
    public var epochs: [Int] { roundEpochs(steps) }

    /// The epochs after which rounds 1...n run.
    public func roundEpochs(_ n: Int) -> [Int] { (0..<n).map { startEpoch + $0 * every } }

    public func target(round r: Int) -> Double {
        pow(settings.ranking.targetFLOPs ?? 1, Double(r) / Double(steps))
    }

    /// The latency target of round r (1-based) of a fixed-step schedule: target^(r / steps).
    public func latencyTarget(round r: Int) -> Double? {
        settings.ranking.targetLatency.map { pow($0, Double(r) / Double(steps)) }
    }

    /// The prunable channels (scope of the ranking) of `arch`.
    public func prunableChannels(_ arch: ResNetArchitecture, head: HeadConfig) -> Int {
        let map = GroupMap.build(arch, head: head)
        return map.prunable(settings.ranking.scope).reduce(0) { $0 + map.groups[$1].channels }
    }

    /// Rounds of the schedule starting from the unpruned `arch`: `steps`, or for an
    /// iterative schedule ceil(stop share / per step) — for a FLOPs stop the share is the
    /// one that removing the same share of every prunable group needs (an estimate: the
    /// last round goes to the target whatever it removes).
    public func plannedSteps(_ arch: ResNetArchitecture, head: HeadConfig) -> Int {
        guard let perStep else { return steps }
        let share: Double
        if let stopChannels {
            share = stopChannels
        } else {
            let map = GroupMap.build(arch, head: head), prunable = Set(map.prunable(settings.ranking.scope))
            let o = settings.ranking
            let full = FLOPsCounter.count(arch, height: o.height, width: o.width).flops
            let target = Double(full) * (o.targetFLOPs ?? 1)
            func flops(_ s: Double) -> Double {
                let counts = map.groups.indices.map { g in
                    prunable.contains(g) ? max(1, map.groups[g].channels - Int((s * Double(map.groups[g].channels)).rounded()))
                        : map.groups[g].channels
                }
                return Double(FLOPsCounter.count(arch.withGroupCounts(counts, map: map), height: o.height, width: o.width).flops)
            }
            var lo = 0.0, hi = 1.0
            for _ in 0..<30 {
                let mid = (lo + hi) / 2
                if flops(mid) <= target { hi = mid } else { lo = mid }
            }
            share = hi
        }
        return max(1, Int((share / perStep - 1e-9).rounded(.up)))
    }

    /// Epochs of the whole run when `finalEpochs` is given: the last round's epoch plus
    /// the final epochs; nil otherwise.
    public func totalEpochs(_ arch: ResNetArchitecture, head: HeadConfig) -> Int? {
        guard let finalEpochs else { return nil }
        return roundEpochs(plannedSteps(arch, head: head)).last! + finalEpochs
    }

    /// The ranking of round `r` (0-based) of `n` on a network whose prunable channels
    /// number `current`, `unpruned` before the first round: removal and stop limits.
    public func roundRanking(_ r: Int, of n: Int, current: Int, unpruned: Int) -> RankingOptions {
        var o = settings.resolvedRanking
        let removed = unpruned - current
        if let stopChannels {
            let goal = perStep == nil ? Int((stopChannels * Double(unpruned) * Double(r + 1) / Double(n)).rounded())
                : Int((stopChannels * Double(unpruned)).rounded())
            var remove = max(1, goal - removed)
            if let perStep, r < n - 1 { remove = min(remove, max(1, Int((perStep * Double(unpruned)).rounded()))) }
            o.removeChannels = remove
            o.targetFLOPs = nil
        } else if let perStep {
            o.removeChannels = r < n - 1 ? max(1, Int((perStep * Double(unpruned)).rounded())) : nil
        } else if o.targetFLOPs != nil {
            o.targetFLOPs = target(round: r + 1)
        } else if o.targetLatency != nil {
            o.targetLatency = latencyTarget(round: r + 1)
        }
        return o
    }

    /// Whether an iterative schedule has reached its stop on a network with `current`
    /// prunable channels and `flops` FLOPs (of `unprunedFLOPs` before the first round).
    public func stopped(current: Int, unpruned: Int, flops: Int, unprunedFLOPs: Int) -> Bool {
        if let stopChannels { return Double(unpruned - current) >= (stopChannels * Double(unpruned)).rounded() }
        guard let t = settings.ranking.targetFLOPs else { return false }
        return Double(flops) <= t * Double(unprunedFLOPs)
    }
}

extension PruneSchedule: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        if k.isReading && k.has("preset") {
            var preset = ""
            try k.string("preset", &preset)
            try k.check(preset == "study", "preset", "'\(preset)' is not a preset (study)")
            self = .study
        }
        try k.choice("criterion", &settings.criterion)
        try settings.codeRanking(&k)
        try k.choice("scope", &settings.ranking.scope, [("inner", .inner), ("all", .all)])
        try codeStop(&k)
        try k.double("floor", &settings.ranking.floor)
        try k.check(settings.ranking.floor >= 0 && settings.ranking.floor < 1, "floor", "must be in [0, 1)")
        try codeRounding(&k)
        try k.nested("latency") { k in
            try k.int("batch", &settings.ranking.latencyBatch)
            try k.check(settings.ranking.latencyBatch >= 1, "batch", "must be at least 1")
            try k.string("cache", &settings.latencyCache)
            try k.int("repeats", &settings.latencyRepeats)
            try k.check(settings.latencyRepeats >= 1, "repeats", "must be at least 1")
            try k.bool("check", &settings.latencyCheck)
        }
        if k.isReading || settings.scoreEpochs == nil { try k.int("batches", &settings.batches) }
        try k.optionalInt("score_epochs", &settings.scoreEpochs)
        try k.check((1...1000).contains(settings.scoreEpochs ?? 1), "score_epochs", "must be 1 to 1000")
        try k.check(!(k.has("score_epochs") && k.has("batches")), "score_epochs", "give score_epochs or batches, not both")
        if k.has("batches") { settings.scoreEpochs = nil }
        try k.check(settings.batches, in: 1...1_000_000, "batches")
        try k.int("bins", &settings.bins)
        try k.check(settings.bins >= 2, "bins", "must be at least 2, got \(settings.bins)")
        try k.bool("fold", &settings.fold)
        // An iterative schedule plans its own steps: its saved recipe leaves them out.
        if k.isReading || perStep == nil { try k.int("steps", &steps) }
        try k.check(steps, in: 1...1000, "steps")
        try k.int("start_epoch", &startEpoch)
        try k.check(startEpoch, in: 0...TrainerConfig.maxEpochs, "start_epoch")
        try k.check(!(k.has("every") && k.has("retrain_epochs")), "retrain_epochs", "give retrain_epochs or every, not both")
        let everyKey = k.has("retrain_epochs") ? "retrain_epochs" : "every"
        try k.int(everyKey, &every)
        try k.check(every, in: 1...TrainerConfig.maxEpochs, everyKey)
        try k.optional("per_step", &perStep, start: 0.05) { k, v in
            try k.nested("per_step") { k in try k.double("channels", &v) }
        }
        try k.check((perStep ?? 0.5) > 0 && (perStep ?? 0.5) <= 1, "per_step.channels", "must be in (0, 1]")
        try k.check(perStep == nil || !k.has("steps"), "steps", "an iterative schedule (per_step) plans its own steps")
        try k.check(perStep == nil || settings.ranking.targetLatency == nil, "target_latency",
                    "an iterative schedule (per_step) stops at FLOPs or channels; give \(k.key("target_latency")) "
                    + "or \(k.key("per_step")), not both")
        try k.optionalInt("final_epochs", &finalEpochs)
        try k.check((1...TrainerConfig.maxEpochs).contains(finalEpochs ?? 1), "final_epochs",
                    "must be 1 to \(TrainerConfig.maxEpochs)")
        try k.bool("evaluate", &evaluate)
        try k.float("alpha", &alpha)
        try k.float("bn_l1", &bnL1)
        try k.double("soft_k", &softK)
        try k.optional("soft_quarter_epoch", &softQuarterEpoch, start: 1) { k, v in try k.double("soft_quarter_epoch", &v) }
        try k.check(!settings.criterion.trainsBeforeCut || (steps == 1 && perStep == nil), "steps", "\(settings.criterion.rawValue) acts "
                    + "during training and cuts once at prune.start_epoch; set steps to 1 (and no per_step)")
    }

    /// `round_to`: a positive integer (kept widths rounded up to its multiples) or `auto`
    /// (widths chosen by the latency table, at most `round_slack` below the ranking's).
    private mutating func codeRounding(_ k: inout RecipeCoder) throws {
        if k.isReading {
            var text = settings.ranking.roundAuto ? "auto" : String(settings.ranking.roundTo)
            try k.string("round_to", &text)
            if text == "auto" {
                settings.ranking.roundAuto = true
                settings.ranking.roundTo = 1
            } else if let n = Int(text), n >= 1 {
                settings.ranking.roundTo = n
                settings.ranking.roundAuto = false
            } else {
                throw k.fail("round_to", "expected a positive integer or auto, got '\(text)'")
            }
        } else if settings.ranking.roundAuto {
            var text = "auto"
            try k.string("round_to", &text)
        } else {
            try k.int("round_to", &settings.ranking.roundTo)
        }
        try k.double("round_slack", &settings.ranking.roundSlack)
        try k.check(settings.ranking.roundSlack >= 0 && settings.ranking.roundSlack < 1, "round_slack", "must be in [0, 1)")
    }

    /// Each round stops at `target_latency` (a fraction of the unpruned model's predicted
    /// latency; alone), `target_flops` (or `stop: {flops: x}`) of the unpruned model's
    /// FLOPs, after removing `remove_channels` channels, or (`stop: {channels: x}`) once
    /// that share of the unpruned model's prunable channels is gone.
    private mutating func codeStop(_ k: inout RecipeCoder) throws {
        if k.isReading ? k.has("target_latency") : settings.ranking.targetLatency != nil {
            for other in ["target_flops", "remove_channels", "stop"] where k.has(other) {
                throw k.fail("target_latency", "give \(k.key("target_latency")) or \(k.key(other)), not both")
            }
            // (set to null, as a recipe that switches from them to a latency target does)
            k.known(["target_flops", "remove_channels", "stop"])
            var t = settings.ranking.targetLatency ?? 0.5
            try k.double("target_latency", &t)
            try k.check(t > 0 && t <= 1, "target_latency", "must be in (0, 1]")
            settings.ranking.targetLatency = t
            settings.ranking.targetFLOPs = nil
            settings.ranking.removeChannels = nil
            stopChannels = nil
            return
        }
        var target = settings.ranking.targetFLOPs ?? RankingOptions().targetFLOPs ?? 1
        if k.isReading && (k.has("target_flops") || k.has("remove_channels")) { stopChannels = nil }
        if k.isReading || (settings.ranking.removeChannels == nil && stopChannels == nil) {
            try k.double("target_flops", &target)
            try k.check(target > 0 && target <= 1, "target_flops", "must be in (0, 1]")
        }
        try k.optionalInt("remove_channels", &settings.ranking.removeChannels)
        try k.check((settings.ranking.removeChannels ?? 1) >= 1, "remove_channels", "must be at least 1")
        if k.isReading ? k.has("stop") : stopChannels != nil {
            try k.check(k.isSection("stop"), "stop", "expected {channels: share} or {flops: share}")
            try k.check(!k.has("target_flops") && !k.has("remove_channels"), "stop", "give stop or target_flops/remove_channels, not both")
            try k.check(k.has("stop.channels") != k.has("stop.flops"), "stop", "give one of channels or flops")
            try k.nested("stop") { k in
                if k.isReading && k.has("flops") {
                    try k.double("flops", &target)
                    try k.check(target > 0 && target <= 1, "flops", "must be in (0, 1]")
                    stopChannels = nil
                } else {
                    var share = stopChannels ?? 0.5
                    try k.double("channels", &share)
                    try k.check(share > 0 && share < 1, "channels", "must be in (0, 1)")
                    stopChannels = share
                }
            }
        }
        settings.ranking.targetFLOPs = settings.ranking.removeChannels == nil && stopChannels == nil ? target : nil
    }
}
