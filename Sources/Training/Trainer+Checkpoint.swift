// Trainer+Checkpoint: saving the session to the run folder's checkpoint and resuming
// from it: the root reads the file and every rank receives the model, the optimizer
// moments, the center-loss centers and the training state (pruning history included).
// Nothing holding NaN or infinity is ever written.
import Distributed
import Foundation
import NN

extension Trainer {
    /// Path of the checkpoint the run writes and resumes from (nil off the root).
    public var checkpointPath: String? { runDirectory.map { $0 + "/checkpoint.safetensors" } }

    /// Continues from a checkpoint (model, optimizer, schedule position, RNG, pruning
    /// history); only the root needs the file.
    /// - Important: Collective — every rank calls this, in the same order.
    public func resume(from path: String) throws {
        state = try comm.onRoot {
            try Checkpoint.load(from: path, net: net, optimizer: optimizer, centerLoss: centerLoss)
        }
        try Replicas.broadcast(net.store, moments: optimizer.momentNames, extra: centerLoss.map { [$0.centers] } ?? [],
                               comm: comm)
        optimizer.stepCount = state.optimizerSteps
        replacedBeforeStart = state.replacedImages
        // The rows logged after this checkpoint will be logged again.
        if let bytes = state.metricsBytes { try log?.truncate(to: bytes) }
        try verifyConsistency(when: "after resuming")
    }

    /// Writes the run's checkpoint now (BN running statistics averaged over ranks first);
    /// throws `TrainingDiverged` instead when the state holds NaN or infinity.
    /// - Important: Collective — every rank calls this, in the same order.
    public func saveCheckpoint() throws {
        try averageRunningStatistics()
        try requireFiniteState(before: "the checkpoint")
        try countReplacedImages()
        state.optimizerSteps = optimizer.stepCount
        state.ranks = comm.size
        guard let checkpointPath else { return }
        state.metricsBytes = log?.size
        try Checkpoint.save(to: checkpointPath, net: net, optimizer: optimizer, state: state, centerLoss: centerLoss)
    }

    /// Sets `state.replacedImages` to the unreadable training images replaced over every
    /// rank since the run started (`data.skip_corrupt`), checkpoints before this process
    /// included.
    /// - Important: Collective — every rank calls this, in the same order.
    public func countReplacedImages() throws {
        var count = [Double(source.replacedImages)]
        try count.withUnsafeMutableBufferPointer { try comm.allreduce($0.baseAddress!, count: 1, op: .sum) }
        state.replacedImages = replacedBeforeStart + Int(count[0])
    }

    /// Throws `TrainingDiverged`, naming the first tensor, when a parameter, BN statistic,
    /// optimizer moment or center holds NaN or infinity (an update with finite gradients
    /// can still overflow), so that `what` is not written from such a state. Call it after
    /// averaging the BN statistics: every rank then holds the same values and decides the same.
    public func requireFiniteState(before what: String) throws {
        var bad = net.store.firstNonFinite(moments: optimizer.momentNames)
        if bad == nil, let centers = centerLoss?.centers,
           !ParameterStore.sumOfSquares(centers.data, count: centers.count).isFinite {
            bad = "center_loss.centers"
        }
        guard let bad else { return }
        let epoch = max(state.lastStepEpoch, 1)
        let message = "training stopped after epoch \(epoch), iteration \(state.iteration): \(bad) holds NaN or "
            + "infinite values at learning rate \(StepCheck.number(Double(optimizer.learningRate))); \(what) was not written"
        try? log?.write(["event": "stopped", "epoch": state.epoch, "iteration": state.iteration, "reason": message])
        throw TrainingDiverged(message)
    }
}
