// ModelEvaluator: what the training hooks need of an evaluation, whatever the task: a
// collective evaluation of a network that returns metrics able to write their
// metrics-log line and their console summary (re-ID: rank-k/mAP/mINP; classification:
// top-1/top-5).
import NN
import ReIDEval

public protocol EvaluatedMetrics {
    /// The metrics-log line of an evaluation after `epoch` epochs.
    func logFields(epoch: Int) -> [String: Any]
    /// One console line starting with `prefix`, marked when the data is synthetic.
    func summary(_ prefix: String, synthetic: Bool) -> String
}

public protocol ModelEvaluator {
    /// - Important: Collective — every rank calls this, in the same order.
    func evaluateModel(_ net: ReIDNet) throws -> any EvaluatedMetrics
}

extension ReIDMetrics: EvaluatedMetrics {}

extension ClassificationMetrics: EvaluatedMetrics {
    public func logFields(epoch: Int) -> [String: Any] {
        ["event": "eval", "epoch": epoch, "top1": top1, "top5": top5, "images": images]
    }
}

extension DistributedEvaluator: ModelEvaluator {
    public func evaluateModel(_ net: ReIDNet) throws -> any EvaluatedMetrics { try evaluate(net) }
}
