// PruneScheduleHook: the rounds of a `prune:` schedule inside a training run. Before the
// epoch a round is due (or when the last epoch has ended), it evaluates (when asked),
// runs the collective PruneRound on batches of a pass of its own over the training data
// (re-ID identities or classification images: data-driven criteria get the run's loss),
// swaps the cut network into the running session, appends the plan to the pruning
// history and logs the round.
import Foundation
import NN
import Pruning
import ReIDData

final class PruneScheduleHook: TrainingHook {
    let schedule: PruneSchedule
    /// FLOPs of the network the run started from, the reference of every round's target.
    let unprunedFLOPs: Int
    let source: BatchSource
    let evaluator: ModelEvaluator
    let synthetic: Bool
    let say: (String) -> Void

    init(schedule: PruneSchedule, unprunedFLOPs: Int, source: BatchSource, evaluator: ModelEvaluator,
         synthetic: Bool, say: @escaping (String) -> Void) {
        self.schedule = schedule
        self.unprunedFLOPs = unprunedFLOPs
        self.source = source
        self.evaluator = evaluator
        self.synthetic = synthetic
        self.say = say
    }

    func beforeEpoch(_ t: Trainer) throws {
        let epochs = schedule.epochs
        while t.state.pruningHistory.count < epochs.count && epochs[t.state.pruningHistory.count] <= t.state.epoch {
            try round(t.state.pruningHistory.count, t)
        }
    }

    /// Round `r` (0-based): evaluate, score, cut, evaluate again (when asked), continue
    /// the session with the cut network.
    /// - Important: Collective — every rank calls this, in the same order.
    func round(_ r: Int, _ t: Trainer) throws {
        var settings = schedule.settings
        if settings.ranking.targetFLOPs != nil { settings.ranking.targetFLOPs = schedule.target(round: r + 1) }
        settings.ranking.referenceFLOPs = unprunedFLOPs
        if schedule.evaluate {
            try t.averageRunningStatistics()
            let m = try evaluator.evaluateModel(t.net)
            t.log?.write(m.logFields(epoch: t.state.epoch).merging(["stage": "before pruning"]) { a, _ in a })
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
        t.log?.write(fields)
    }
}
