// StepCheck: the training session's verdict on each step, taken after the gradients are
// summed over ranks and before any hook or the optimizer sees them. It reads the loss
// and the gradient norm, values every rank holds identically, so every rank decides the
// same without communicating: NaN or infinity stops the run (or, with
// `train.on_nonfinite: skip`, drops the step's update), and a finite loss above
// `train.divergence_factor` times the reference loss stops it.
import Distributed
import Foundation
import NN

/// What a step whose loss or summed gradients hold NaN or infinity does.
public enum NonFiniteAction: String, Codable, Sendable {
    /// End the run with an error naming the step.
    case stop
    /// Leave parameters, optimizer state, centers and BN statistics as they were before the
    /// step and go on, as mixed-precision trainers do when gradients overflow.
    case skip
}

/// The run stopped on NaN or infinite values or a diverging loss; one line that names the
/// step, the loss and the learning rate. Nothing of the failed step was saved.
public struct TrainingDiverged: SameOnEveryRank, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

struct StepCheck {
    enum Verdict: Equatable {
        case update
        /// Skip the update; the reason, for the metrics log.
        case skip(String)
        /// Stop the run with this message.
        case stop(String)
    }

    /// Skipped steps in a row after which skipping gives up: the model itself is then
    /// likely non-finite and every further step would be skipped too.
    static let skipLimit = 20

    let factor: Double
    let action: NonFiniteAction
    private(set) var skippedInARow = 0
    /// The store's buffers (BN running statistics) before the step's training forward.
    private var buffers: [Float] = []

    init(_ config: TrainerConfig) {
        factor = config.divergenceFactor
        action = config.onNonFinite
    }

    /// Keeps a copy of the buffers that a training forward updates (BN running
    /// statistics, a few floats per channel) so that a dropped step leaves none of them.
    mutating func remember(_ store: ParameterStore) {
        if buffers.count != store.bufferCapacity { buffers = [Float](repeating: 0, count: store.bufferCapacity) }
        buffers.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: store.buffers, count: store.bufferCapacity) }
    }

    /// Puts back the buffers `remember` kept.
    func restore(_ store: ParameterStore) {
        guard buffers.count == store.bufferCapacity else { return }
        buffers.withUnsafeBufferPointer { store.buffers.update(from: $0.baseAddress!, count: store.bufferCapacity) }
        store.parametersChanged()
    }

    /// The bound a finite loss must stay under, and how it came about; nil when the check
    /// is off or no reference is known yet. A reference below 1 counts as 1, so that a
    /// run whose first losses are near zero does not stop on an ordinary batch.
    func bound(_ state: TrainingState) -> (value: Double, why: String)? {
        guard factor > 0 else { return nil }
        let (reference, what): (Double, String)
        if let mean = state.firstEpochMeanLoss {
            (reference, what) = (mean, "the first epoch's mean loss")
        } else if let first = state.firstLoss {
            (reference, what) = (first, "the run's first loss")
        } else {
            return nil
        }
        let why = "train.divergence_factor \(StepCheck.number(factor)) x \(what) \(StepCheck.number(reference))"
            + (reference < 1 ? ", counted as 1" : "")
        return (factor * max(reference, 1), why)
    }

    /// The verdict on a step with this loss and gradient norm (`detail`: why the loss
    /// could not be computed). `step` names it, "epoch 2, iteration 37".
    mutating func verdict(loss: Double, gradientNorm: Double, learningRate: Double, state: TrainingState,
                          step: String, detail: String? = nil) -> Verdict {
        let lr = "learning rate \(StepCheck.number(learningRate))"
        let head = "training stopped at \(step): ", tail = "; nothing from this step was saved"
        if loss.isFinite, let (limit, why) = bound(state), loss > limit {
            return .stop(head + "loss \(StepCheck.number(loss)) exceeds \(StepCheck.number(limit)) (\(why)) at \(lr)" + tail)
        }
        let problem: String
        if let detail {
            problem = "non-finite values at \(lr): \(detail)"
        } else if !loss.isFinite {
            problem = "non-finite loss (\(StepCheck.number(loss))) at \(lr)"
        } else if !gradientNorm.isFinite {
            problem = "non-finite gradients (norm \(StepCheck.number(gradientNorm)), loss \(StepCheck.number(loss))) at \(lr)"
        } else {
            skippedInARow = 0
            return .update
        }
        guard action == .skip else { return .stop(head + problem + tail + " (train.on_nonfinite: skip skips such steps)") }
        skippedInARow += 1
        if skippedInARow >= StepCheck.skipLimit {
            return .stop(head + "\(skippedInARow) steps in a row skipped; the last had " + problem + tail)
        }
        return .skip(problem)
    }

    /// Four significant digits; NaN without the sign printf gives it.
    static func number(_ x: Double) -> String { x.isNaN ? "NaN" : String(format: "%.4g", x) }
}
