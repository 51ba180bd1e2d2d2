// TrainerConfig: what a training run does: epochs, optimizer, learning-rate schedule,
// loss weights, where it writes and how often. Codable so that it is saved with the run.
import Foundation
import Optim

public struct TrainerConfig: Codable, Sendable {
    public enum OptimizerKind: String, Codable, Sendable {
        case sgd, adam, adamw
    }

    public var epochs: Int = 60
    public var optimizer: OptimizerKind = .adam
    public var schedule: LRSchedule = LRSchedule(base: 3.5e-4, warmupEpochs: 10, warmupFactor: 0.01,
                                                 decay: .multiStep(milestones: [40, 70], gamma: 0.1))
    public var momentum: Float = 0.9
    public var nesterov = false
    public var weightDecay: Float = 5e-4
    public var decayNormAndBias = true
    /// Weight of the label-smoothed cross-entropy (0 disables it) and its epsilon.
    public var crossEntropyWeight: Float = 1
    public var labelSmoothing: Float = 0.1
    /// Weight of the batch-hard triplet loss on the features before BNNeck (0 disables it).
    public var tripletWeight: Float = 1
    public var tripletMargin: Float = 0.3
    public var softMargin = false
    /// Weight of the contrastive pair loss (0 disables it) and its margin.
    public var contrastiveWeight: Float = 0
    public var contrastiveMargin: Float = 1
    /// Weight of the center loss (0 disables it); its centers learn with `centerLearningRate`.
    public var centerWeight: Float = 0
    public var centerLearningRate: Float = 0.5
    /// Save a checkpoint every this many epochs (and at the end); 0 only at the end.
    public var checkpointEvery = 10
    /// Also save a checkpoint every this many iterations (0: only at epoch ends), so that
    /// an interrupted run resumes at that iteration.
    public var checkpointIterations = 0
    /// Append a metrics line every this many iterations.
    public var logEvery = 10
    public var seed: UInt64 = 1
    /// Show a progress bar on stderr when it is a terminal.
    public var progress = true
    /// Stop after this many iterations in total (0: run every epoch); for smoke tests.
    public var maxIterations = 0
    /// Stop when a step's loss exceeds this many times the first epoch's mean loss (the
    /// run's first loss until that epoch ends; a reference below 1 counts as 1); 0: never.
    public var divergenceFactor = 1000.0
    /// What a step whose loss or summed gradients hold NaN or infinity does.
    public var onNonFinite = NonFiniteAction.stop
    public var distributed = DistributedOptions()

    public init() {}

    /// Checks the values a user can get wrong; the message names the key.
    public func validate() throws {
        func need(_ ok: Bool, _ key: String, _ why: String) throws {
            if !ok { throw ConfigError("train.\(key): \(why)") }
        }
        try need(epochs >= 1, "epochs", "must be at least 1, got \(epochs)")
        try need(schedule.base > 0, "lr", "must be positive, got \(schedule.base)")
        try need(weightDecay >= 0, "weight_decay", "must not be negative")
        try need(labelSmoothing >= 0 && labelSmoothing < 1, "label_smoothing", "must be in [0, 1)")
        try need(crossEntropyWeight >= 0 && tripletWeight >= 0 && contrastiveWeight >= 0 && centerWeight >= 0,
                 "loss weights", "must not be negative")
        try need(crossEntropyWeight + tripletWeight + contrastiveWeight + centerWeight > 0, "loss weights",
                 "at least one loss must have a positive weight")
        try need(checkpointEvery >= 0 && logEvery >= 1, "checkpoint_every/log_every", "must be non-negative / positive")
        try need(divergenceFactor >= 0, "divergence_factor", "must not be negative (0 disables), got \(divergenceFactor)")
    }
}

/// How ranks cooperate during training.
public struct DistributedOptions: Codable, Sendable {
    /// Sum BN batch statistics over all ranks.
    public var syncBN = false
    /// How gradients are allreduced: blocking after backward (measured faster on one
    /// node) or overlapped with backward (for clusters with network hardware).
    public var syncMode = SyncMode.blocking
    public var bucketBytes = 25 << 20
    /// Compare a parameter checksum across ranks every this many steps (0: only at start
    /// and after structural changes).
    public var checksumEvery = 100
    public init() {}
}

public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
