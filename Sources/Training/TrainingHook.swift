// TrainingHook: periodic work on the training loop (evaluation, checkpoints, pruning
// rounds, training-time criteria), the way detectron2 and fast-reid hook a simple
// trainer. Every method has an empty default; the trainer calls each registered hook in
// order, with the checkpoint hook last so that a checkpoint holds what the others did.
import Foundation

public protocol TrainingHook: AnyObject {
    /// Before epoch `trainer.state.epoch` starts, and once more when the last epoch has
    /// ended (then `state.epoch == config.epochs`); not after a stop by max_iterations.
    /// - Important: Collective — every rank calls this, in the same order.
    func beforeEpoch(_ trainer: Trainer) throws
    /// After the gradients are summed over ranks and before the optimizer step (every
    /// rank computes the same: training-time regularizers add to the gradients here);
    /// only for steps whose loss and gradients passed the step check.
    func beforeUpdate(_ trainer: Trainer) throws
    /// After every optimizer step (`state.iteration` and `state.batchInEpoch` counted).
    /// - Important: Collective — every rank calls this, in the same order.
    func afterStep(_ trainer: Trainer) throws
    /// After an epoch ends (`state.epoch` counts it).
    /// - Important: Collective — every rank calls this, in the same order.
    func afterEpoch(_ trainer: Trainer) throws
    /// When the loop ends, whether all epochs ran or max_iterations stopped it.
    /// - Important: Collective — every rank calls this, in the same order.
    func afterTrain(_ trainer: Trainer) throws
}

extension TrainingHook {
    public func beforeEpoch(_ trainer: Trainer) throws {}
    public func beforeUpdate(_ trainer: Trainer) throws {}
    public func afterStep(_ trainer: Trainer) throws {}
    public func afterEpoch(_ trainer: Trainer) throws {}
    public func afterTrain(_ trainer: Trainer) throws {}
}

/// Writes the run's checkpoint every `train.checkpoint_every` epochs and at the last one,
/// every `train.checkpoint_iterations` iterations inside an epoch, and where
/// max_iterations stops the run, so that a rerun resumes there.
final class CheckpointHook: TrainingHook {
    func afterStep(_ t: Trainer) throws {
        let every = t.config.checkpointIterations
        if every > 0 && t.state.iteration % every == 0 && t.state.batchInEpoch < t.batchesThisEpoch {
            try t.saveCheckpoint()
        }
    }

    func afterEpoch(_ t: Trainer) throws {
        let every = t.config.checkpointEvery
        if (every > 0 && t.state.epoch % every == 0) || t.state.epoch == t.config.epochs { try t.saveCheckpoint() }
    }

    func afterTrain(_ t: Trainer) throws {
        if t.reachedMaxIterations { try t.saveCheckpoint() }
    }
}
