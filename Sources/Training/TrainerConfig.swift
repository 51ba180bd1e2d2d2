// TrainerConfig: what a training run does: epochs, optimizer, learning-rate schedule,
// loss weights, where it writes and how often: the recipe's `train:` section (and
// `distributed:` for how ranks cooperate). Codable so that it is saved with the run.
import Foundation
import Optim
import Tensors

public struct TrainerConfig: Codable, Sendable, Equatable {
    public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
        case sgd, adam, adamw
    }

    public var epochs: Int = 60
    public var optimizer: OptimizerKind = .adam
    public var schedule: LRSchedule = LRSchedule(base: 3.5e-4, warmupEpochs: 10, warmupFactor: 0.01,
                                                 decay: .multiStep(milestones: [40, 70], gamma: 0.1))
    public var momentum: Float = 0.9
    public var nesterov = false
    /// When positive, `lr` is the rate for a global batch of this many images and the run
    /// trains with lr x global batch / this (Goyal et al.'s linear scaling; 256 as
    /// torchvision's ImageNet reference); 0 uses `lr` as given.
    public var lrReferenceBatch = 0
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
    /// The arithmetic of convolutions and linear layers (`train.precision: fp32|bf16`);
    /// parameters, optimizer moments, BN, losses and the gradient allreduce stay f32.
    public var precision = Precision.fp32
    public var distributed = DistributedOptions()

    public init() {}

    /// The defaults of a classification (pretraining) run, torchvision's ResNet-50 ImageNet
    /// reference: 90 epochs of SGD with momentum 0.9, lr 0.1 per 256 images of global
    /// batch, x0.1 at epochs 30 and 60, weight decay 1e-4, label smoothing 0.1 and
    /// cross-entropy alone.
    public static var classification: TrainerConfig {
        var c = TrainerConfig()
        c.epochs = 90
        c.optimizer = .sgd
        c.schedule = LRSchedule(base: 0.1, warmupEpochs: 0, warmupFactor: 0.01, decay: .multiStep(milestones: [30, 60], gamma: 0.1))
        c.lrReferenceBatch = 256
        c.momentum = 0.9
        c.weightDecay = 1e-4
        c.labelSmoothing = 0.1
        c.tripletWeight = 0
        c.checkpointEvery = 1
        return c
    }

    /// This configuration with the learning rate a global batch of `globalBatch` images
    /// trains with (`lr_reference_batch`); unchanged when scaling is off.
    public func scaled(forGlobalBatch globalBatch: Int) -> TrainerConfig {
        guard lrReferenceBatch > 0 else { return self }
        var c = self
        c.schedule.base = schedule.base * Double(globalBatch) / Double(lrReferenceBatch)
        if case let .cosine(total, minimum) = c.schedule.decay {
            c.schedule.decay = .cosine(totalEpochs: total, minimum: minimum * Double(globalBatch) / Double(lrReferenceBatch))
        }
        return c
    }

    /// The most epochs a run may ask for (so that iteration counts stay far from overflow).
    public static let maxEpochs = 100_000

    /// Checks the values a user can get wrong; the message names the key.
    public func validate() throws {
        func need(_ ok: Bool, _ key: String, _ why: String) throws {
            if !ok { throw KeyProblem(section: "train", key: key, why: why) }
        }
        try need((1...Self.maxEpochs).contains(epochs), "epochs", "must be 1 to \(Self.maxEpochs), got \(epochs)")
        try need(schedule.base > 0, "lr", "must be positive, got \(schedule.base)")
        try need(schedule.warmupEpochs >= 0, "warmup_epochs", "must not be negative, got \(schedule.warmupEpochs)")
        try need(schedule.warmupFactor >= 0, "warmup_factor", "must not be negative, got \(schedule.warmupFactor)")
        switch schedule.decay {
        case .constant: break
        case let .cosine(_, minimum): try need(minimum >= 0, "min_lr", "must not be negative, got \(minimum)")
        case let .multiStep(milestones, gamma):
            try need(gamma > 0, "gamma", "must be positive, got \(gamma)")
            try need(milestones.allSatisfy { $0 >= 1 } && zip(milestones, milestones.dropFirst()).allSatisfy { $0 < $1 },
                     "milestones", "must be increasing epochs of at least 1, got \(milestones)")
        }
        try need(momentum >= 0 && momentum < 1, "momentum", "must be in [0, 1), got \(momentum)")
        try need(weightDecay >= 0, "weight_decay", "must not be negative")
        try need(lrReferenceBatch >= 0, "lr_reference_batch", "must not be negative (0: lr as given), got \(lrReferenceBatch)")
        try need(labelSmoothing >= 0 && labelSmoothing < 1, "loss.label_smoothing", "must be in [0, 1)")
        for (key, weight) in [("cross_entropy", crossEntropyWeight), ("triplet", tripletWeight),
                              ("contrastive", contrastiveWeight), ("center", centerWeight)] {
            try need(weight >= 0 && weight.isFinite, "loss.\(key)", "must be a finite weight of at least 0, got \(weight)")
        }
        try need(crossEntropyWeight + tripletWeight + contrastiveWeight + centerWeight > 0, "loss",
                 "at least one loss must have a positive weight")
        try need(tripletMargin >= 0, "loss.triplet_margin", "must not be negative, got \(tripletMargin)")
        try need(contrastiveMargin >= 0, "loss.contrastive_margin", "must not be negative, got \(contrastiveMargin)")
        try need(checkpointEvery >= 0, "checkpoint_every", "must not be negative (0: only at the end), got \(checkpointEvery)")
        try need(logEvery >= 1, "log_every", "must be at least 1, got \(logEvery)")
        try need(checkpointIterations >= 0, "checkpoint_iterations",
                 "must not be negative (0: only at epoch ends), got \(checkpointIterations)")
        try need(maxIterations >= 0, "max_iterations", "must not be negative (0: every epoch), got \(maxIterations)")
        try need(divergenceFactor >= 0, "divergence_factor", "must not be negative (0 disables), got \(divergenceFactor)")
    }
}

extension TrainerConfig: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.int("epochs", &epochs)
        try k.choice("optimizer", &optimizer)
        try codeSchedule(&k)
        try k.float("momentum", &momentum)
        try k.bool("nesterov", &nesterov)
        try k.float("weight_decay", &weightDecay)
        try k.bool("decay_norm_and_bias", &decayNormAndBias)
        try k.nested("loss") { k in
            try k.float("cross_entropy", &crossEntropyWeight)
            try k.float("label_smoothing", &labelSmoothing)
            try k.float("triplet", &tripletWeight)
            try k.float("triplet_margin", &tripletMargin)
            try k.bool("soft_margin", &softMargin)
            try k.float("contrastive", &contrastiveWeight)
            try k.float("contrastive_margin", &contrastiveMargin)
            try k.float("center", &centerWeight)
        }
        try k.int("checkpoint_every", &checkpointEvery)
        try k.int("log_every", &logEvery)
        try k.int("checkpoint_iterations", &checkpointIterations)
        try k.bool("progress", &progress)
        try k.int("max_iterations", &maxIterations)
        try k.double("divergence_factor", &divergenceFactor)
        try k.choice("on_nonfinite", &onNonFinite, [("stop", .stop), ("skip", .skip)])
        try k.choice("precision", &precision)
        try k.validate { try self.validate() }
    }

    enum DecayKind: String, CaseIterable {
        case constant, cosine, multistep
    }

    /// `lr`, warmup and `schedule` with its own keys (`milestones` and `gamma`, or
    /// `min_lr`). A cosine schedule anneals over `epochs` (read first).
    private mutating func codeSchedule(_ k: inout RecipeCoder) throws {
        try k.double("lr", &schedule.base)
        try k.int("lr_reference_batch", &lrReferenceBatch)
        try k.double("warmup_epochs", &schedule.warmupEpochs)
        try k.double("warmup_factor", &schedule.warmupFactor)
        // Each decay's parameters default to the current schedule's, else to the declared one's.
        var kind = DecayKind.constant, minimum = 0.0
        var (milestones, gamma) = Self.multiStep(TrainerConfig().schedule.decay)!
        switch schedule.decay {
        case .constant:
            break
        case let .cosine(_, m):
            kind = .cosine
            minimum = m
        case let .multiStep(m, g):
            kind = .multistep
            (milestones, gamma) = (m, g)
        }
        try k.choice("schedule", &kind)
        switch kind {
        case .constant:
            schedule.decay = .constant
        case .cosine:
            try k.double("min_lr", &minimum)
            schedule.decay = .cosine(totalEpochs: epochs, minimum: minimum)
        case .multistep:
            try k.ints("milestones", &milestones)
            try k.double("gamma", &gamma)
            schedule.decay = .multiStep(milestones: milestones, gamma: gamma)
        }
    }

    private static func multiStep(_ d: LRSchedule.Decay) -> (milestones: [Int], gamma: Double)? {
        if case let .multiStep(m, g) = d { return (m, g) }
        return nil
    }
}

/// How ranks cooperate during training.
public struct DistributedOptions: Codable, Sendable, Equatable {
    /// Sum BN batch statistics over all ranks.
    public var syncBN = false
    /// How gradients are allreduced: blocking after backward (measured faster on one
    /// node) or overlapped with backward (for clusters with network hardware).
    public var syncMode = SyncMode.blocking
    /// What the gradient allreduce sends: float32, or bfloat16 (half the bytes; each
    /// rank's gradients and every partial sum rounded to bf16).
    public var gradientPrecision = Precision.fp32
    public var bucketBytes = 25 << 20
    /// Compare a parameter checksum across ranks every this many steps (0: only at start
    /// and after structural changes).
    public var checksumEvery = 100
    /// Seconds a rank may wait in one collective of a training step, an evaluation or a
    /// pruning round before the collective watchdog ends the job naming the ranks that did
    /// not arrive (0: wait for ever).
    public var timeoutSeconds = 300.0
    public init() {}
}

/// The recipe's `distributed:` section.
extension DistributedOptions: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.bool("sync_bn", &syncBN)
        try k.choice("sync_mode", &syncMode, [("blocking", .blocking), ("overlapped", .overlapped)])
        try k.choice("gradient_precision", &gradientPrecision, [("fp32", .fp32), ("bf16", .bf16)])
        var megabytes = Double(bucketBytes) / 1_048_576
        try k.double("bucket_mb", &megabytes)
        try k.check(megabytes > 0 && megabytes <= 4096, "bucket_mb", "must be above 0 and at most 4096, got \(megabytes)")
        bucketBytes = max(4, Int(megabytes * 1_048_576))
        try k.int("checksum_every", &checksumEvery)
        try k.check(checksumEvery >= 0, "checksum_every", "must not be negative (0: at start and after pruning), "
                    + "got \(checksumEvery)")
        try k.double("timeout_s", &timeoutSeconds)
        try k.check(timeoutSeconds >= 0 && timeoutSeconds.isFinite, "timeout_s",
                    "must be a non-negative number of seconds (0 turns the watchdog off), got \(timeoutSeconds)")
    }
}

/// A value a type's own validation refuses, with its key within the type's section
/// (`epochs` in `train`), so that a recipe names the file and the full key (wherever the
/// section sits: `train.epochs`, `scenario.source.train.epochs`) or the override that set it.
public struct KeyProblem: Error, CustomStringConvertible {
    public let section: String
    public let key: String
    public let why: String
    public var description: String { "\(section).\(key): \(why)" }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
