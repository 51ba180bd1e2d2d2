// PruneScheduleHook: the rounds of a `prune:` schedule inside a training run. Before the
// epoch a round is due (or when the last epoch has ended), it evaluates (when asked),
// runs the collective PruneRound on batches of a pass of its own over the training data
// (re-ID identities or classification images: data-driven criteria get the run's loss),
// swaps the cut network into the running session, appends the plan to the pruning
// history and logs the round. An iterative schedule (per_step) runs its planned rounds
// until its stop is reached; the channel shares are of the unpruned model's.
import Foundation
import NN
import Pruning
import ReIDData

final class PruneScheduleHook: TrainingHook {
    let schedule: PruneSchedule
    /// FLOPs of the network the run started from, the reference of every round's target.
    let unprunedFLOPs: Int
    /// The network the run started from, the reference of every round's latency target.
    let start: ResNetArchitecture
    /// Prunable channels of the network the run started from.
    let unprunedChannels: Int
    /// Rounds the schedule plans.
    let planned: Int
    let source: BatchSource
    let evaluator: ModelEvaluator
    let synthetic: Bool
    let say: (String) -> Void

    init(schedule: PruneSchedule, start: ResNetArchitecture, head: HeadConfig, unprunedFLOPs: Int, source: BatchSource,
         evaluator: ModelEvaluator, synthetic: Bool, say: @escaping (String) -> Void) {
        self.schedule = schedule
        self.unprunedFLOPs = unprunedFLOPs
        self.start = start
        unprunedChannels = schedule.prunableChannels(start, head: head)
        planned = schedule.plannedSteps(start, head: head)
        self.source = source
        self.evaluator = evaluator
        self.synthetic = synthetic
        self.say = say
    }

    func beforeEpoch(_ t: Trainer) throws {
        let epochs = schedule.roundEpochs(planned)
        while t.state.pruningHistory.count < epochs.count && epochs[t.state.pruningHistory.count] <= t.state.epoch {
            if schedule.perStep != nil {
                let flops = FLOPsCounter.count(t.net.architecture, height: schedule.settings.ranking.height,
                                               width: schedule.settings.ranking.width).flops
                if schedule.stopped(current: schedule.prunableChannels(t.net.architecture, head: t.net.headConfig),
                                    unpruned: unprunedChannels, flops: flops, unprunedFLOPs: unprunedFLOPs) { return }
            }
            try round(t.state.pruningHistory.count, t)
        }
    }

    /// Round `r` (0-based): evaluate, score, cut, evaluate again (when asked), continue
    /// the session with the cut network.
    /// - Important: Collective — every rank calls this, in the same order.
    func round(_ r: Int, _ t: Trainer) throws {
        var settings = schedule.settings
        let current = schedule.prunableChannels(t.net.architecture, head: t.net.headConfig)
        settings.ranking = schedule.roundRanking(r, of: planned, current: current, unpruned: unprunedChannels)
        settings.mode = settings.ranking.mode
        settings.normalizer = settings.ranking.normalizer
        settings.overrides = [:]
        settings.ranking.referenceFLOPs = unprunedFLOPs
        settings.latencyReference = start
        if let e = settings.scoreEpochs { settings.batches = e * source.batchesPerEpoch }
        // Without SyncBN each rank's running statistics differ; the cut (and its folding of
        // removed channels into consumers' running means) needs the same model on every rank.
        try t.averageRunningStatistics()
        if schedule.evaluate {
            let m = try evaluator.evaluateModel(t.net)
            try t.log?.write(m.logFields(epoch: t.state.epoch).merging(["stage": "before pruning"]) { a, _ in a })
            say(m.summary("before pruning round \(r + 1)", synthetic: synthetic))
        }
        // The criterion's batches come from a pass of its own over the training data.
        let outcome = try PruneRound.run(net: t.net, settings: settings, comm: t.comm, gradients: t.accumulateGradients,
                                         batch: source.pass(fromEpoch: 1_000_000 + r * 1000))
        let before = FLOPsCounter.count(outcome.plan.before, height: settings.ranking.height, width: settings.ranking.width)
        let after = FLOPsCounter.count(outcome.plan.after, height: settings.ranking.height, width: settings.ranking.width)
        say(String(format: "pruning round %d (%@, %@): %.3f -> %.3f GFLOPs (%.1f%% of the unpruned), %.2f M -> %.2f M parameters",
                   r + 1, outcome.plan.criterion, outcome.plan.ranking, Double(before.flops) / 1e9, Double(after.flops) / 1e9,
                   100 * Double(after.flops) / Double(unprunedFLOPs), Double(before.params) / 1e6, Double(after.params) / 1e6))
        if let shortfall = outcome.shortfall { say("warning: pruning round \(r + 1): \(shortfall)") }
        if let collapsed = outcome.collapsed { say("warning: pruning round \(r + 1): \(collapsed)") }
        if let latency = outcome.latency { say("pruning round \(r + 1): \(latency)") }
        var fields = PruneRound.describe(outcome, height: settings.ranking.height, width: settings.ranking.width)
        fields["epoch"] = t.state.epoch
        fields["round"] = r + 1
        if schedule.evaluate {
            let m = try evaluator.evaluateModel(outcome.net)
            say(m.summary("after pruning round \(r + 1)", synthetic: synthetic))
            fields["after"] = m.logFields(epoch: t.state.epoch)
        }
        try t.replaceNetwork(outcome.net)
        t.state.pruningHistory.append(outcome.plan)
        try t.log?.write(fields)
    }
}
