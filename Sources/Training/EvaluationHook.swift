// EvaluationHook: the run's metrics (re-ID query/gallery, or classification top-1/top-5)
// every `eval.every` epochs during training (the final evaluation is the run's own),
// logged to metrics.jsonl and the console.
import Foundation

final class EvaluationHook: TrainingHook {
    let evaluator: ModelEvaluator
    let every: Int
    let synthetic: Bool
    let say: (String) -> Void

    init(evaluator: ModelEvaluator, every: Int, synthetic: Bool, say: @escaping (String) -> Void) {
        self.evaluator = evaluator
        self.every = every
        self.synthetic = synthetic
        self.say = say
    }

    func afterEpoch(_ t: Trainer) throws {
        let epoch = t.state.epoch
        guard every > 0 && epoch % every == 0 && epoch < t.config.epochs else { return }
        try t.averageRunningStatistics()
        let m = try evaluator.evaluateModel(t.net)
        try t.log?.write(m.logFields(epoch: epoch))
        say(m.summary("epoch \(epoch)", synthetic: synthetic))
    }
}
