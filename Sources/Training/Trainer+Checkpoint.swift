// Trainer+Checkpoint: saving the session to the run folder's checkpoint and resuming
// from it: the root reads the file and every rank receives the model, the optimizer
// moments, the center-loss centers and the training state (pruning history included).
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
        // The rows logged after this checkpoint will be logged again.
        if let bytes = state.metricsBytes { try log?.truncate(to: bytes) }
        try verifyConsistency(when: "after resuming")
    }

    /// Writes the run's checkpoint now (BN running statistics averaged over ranks first).
    /// - Important: Collective — every rank calls this, in the same order.
    public func saveCheckpoint() throws {
        try averageRunningStatistics()
        state.optimizerSteps = optimizer.stepCount
        guard let checkpointPath else { return }
        state.metricsBytes = log?.size
        try Checkpoint.save(to: checkpointPath, net: net, optimizer: optimizer, state: state, centerLoss: centerLoss)
    }
}
