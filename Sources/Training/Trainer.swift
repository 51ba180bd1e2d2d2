// Trainer: one rank's training session. A step forwards the Siamese network over this
// rank's slice of the global batch, computes the losses of the global batch (triplet,
// contrastive and center losses mined over every rank's features; for a classification
// network, cross-entropy on its `fc` logits alone), backpropagates,
// allreduces the gradients and steps the optimizer, so N ranks' summed gradients equal
// one rank's on the whole batch. The loop is short: periodic work (evaluation,
// checkpoints, pruning rounds, training-time criteria) runs as TrainingHooks, and a
// pruning round swaps the network and optimizer state in place (`replaceNetwork`).
import Distributed
import Foundation
import NN
import Optim
import ReIDData
import Tensors

/// What one training step measured.
public struct StepMetrics: Sendable {
    public var loss: Double
    public var crossEntropy: Double
    public var triplet: Double
    public var contrastive: Double
    public var center: Double
    /// Share of the batch whose logits pick the right identity.
    public var accuracy: Double
    public var learningRate: Double
    /// L2 norm of the gradients summed over ranks (NaN when the loss could not be computed).
    public var gradientNorm = Double.nan
    /// The update was skipped for non-finite values (`train.on_nonfinite: skip`).
    public var skipped = false
}

public final class Trainer {
    public private(set) var net: ReIDNet
    public let config: TrainerConfig
    public let source: BatchSource
    /// The loader's total wait when the last train row was logged (rows hold the wait since).
    private var loggedWaitSeconds = 0.0
    /// `state.replacedImages` when this process started or resumed (the source counts from 0).
    var replacedBeforeStart = 0
    public private(set) var optimizer: Optimizer
    public private(set) var centerLoss: CenterLoss?
    public internal(set) var state = TrainingState()
    /// The run folder (metrics.jsonl, checkpoints); nil writes nothing.
    public let runDirectory: String?
    public let log: MetricsLog?
    private var dLogits = ActivationBuffer(), dFeatures = ActivationBuffer(), scratch = ActivationBuffer()
    public let comm: Communicator
    public private(set) var sync: GradientSync
    private let reducer: CommunicatorReducer
    /// Periodic work, in order; the checkpoint hook stays last.
    public private(set) var hooks: [TrainingHook] = [CheckpointHook()]
    /// Seconds of the last step, and of it in gradient communication.
    public private(set) var lastStepSeconds = 0.0
    /// Batches in the epoch being trained (an identity sampler's count varies by epoch).
    public private(set) var batchesThisEpoch = 0
    /// The verdict on each step: update, skip, or stop on non-finite values or divergence.
    private var check: StepCheck
    /// Called after each phase of a step (forward, losses, backward, update), on every rank.
    public var onPhase: ((StepPhase) -> Void)?

    /// Sets up the run folder on the root, sends the root's model to every rank and
    /// checks that the replicas agree.
    /// - Important: Collective — every rank calls this, in the same order.
    public init(net: ReIDNet, source: BatchSource, config: TrainerConfig, runDirectory: String?,
                comm: Communicator = LocalCommunicator()) throws {
        try config.validate()
        try config.precision.requireSupported(key: "train.precision")
        guard net.headConfig.numClasses == source.numClasses || config.crossEntropyWeight == 0 else {
            throw ConfigError("the classifier has \(net.headConfig.numClasses) classes but the data has "
                              + "\(source.numClasses) identities")
        }
        self.net = net
        self.config = config
        check = StepCheck(config)
        self.source = source
        self.comm = comm
        comm.watch.timeoutSeconds = config.distributed.timeoutSeconds
        self.runDirectory = comm.isRoot ? runDirectory : nil
        reducer = CommunicatorReducer(comm)
        (optimizer, sync, centerLoss) = Trainer.parts(for: net, config: config, classes: source.numClasses, comm: comm,
                                                      reducer: reducer)
        state.rng = SeededRandom(seed: config.seed)
        // Every rank learns whether the root could set up, so none waits for a root that failed.
        var made: MetricsLog?
        try comm.onRoot {
            guard let folder = runDirectory else { return }
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                made = try MetricsLog(path: folder + "/metrics.jsonl")
            } catch {
                throw ConfigError("\(folder): cannot create the run folder or its metrics log: \(error)")
            }
        }
        log = made
        try Replicas.broadcast(net.store, extra: centerLoss.map { [$0.centers] } ?? [], comm: comm)
        try verifyConsistency(when: "at start")
    }

    /// The optimizer, gradient sync and center loss over `net`'s store.
    private static func parts(for net: ReIDNet, config: TrainerConfig, classes: Int, comm: Communicator,
                              reducer: CommunicatorReducer) -> (Optimizer, GradientSync, CenterLoss?) {
        let sync = GradientSync(store: net.store, comm: comm, mode: config.distributed.syncMode,
                                bucketBytes: config.distributed.bucketBytes, precision: config.distributed.gradientPrecision)
        net.setStatisticsReducer(config.distributed.syncBN ? reducer : nil)
        net.precision = config.precision
        let policy = DecayPolicy(weightDecay: config.weightDecay, decayNormAndBias: config.decayNormAndBias)
        let lr = Float(config.schedule.rate(at: 0))
        let optimizer: Optimizer
        switch config.optimizer {
        case .sgd:
            optimizer = SGD(store: net.store, learningRate: lr, momentum: config.momentum, nesterov: config.nesterov,
                            policy: policy)
        case .adam:
            optimizer = Adam(store: net.store, learningRate: lr, policy: policy)
        case .adamw:
            optimizer = Adam(store: net.store, learningRate: lr, decoupled: true, policy: policy)
        }
        let centerLoss = config.centerWeight > 0
            ? CenterLoss(numClasses: classes, dim: net.head.outputDim, seed: config.seed) : nil
        return (optimizer, sync, centerLoss)
    }

    /// Adds periodic work; it runs after the hooks added before it and before the checkpoint.
    public func register(_ hook: TrainingHook) { hooks.insert(hook, at: hooks.count - 1) }

    /// Continues the session with `cut`, the network a pruning round left (its store
    /// carries the remapped optimizer moments): a new optimizer, gradient sync and center
    /// loss over its store; the training state and step count go on.
    /// - Important: Collective — every rank calls this, in the same order.
    public func replaceNetwork(_ cut: ReIDNet) throws {
        let steps = optimizer.stepCount
        net = cut
        (optimizer, sync, centerLoss) = Trainer.parts(for: cut, config: config, classes: source.numClasses, comm: comm,
                                                      reducer: reducer)
        optimizer.stepCount = steps
        try verifyConsistency(when: "after replacing the network")
    }

    /// Compares a checksum of parameters and buffers across ranks; a mismatch names the
    /// ranks and the first slot that differs.
    /// - Important: Collective — every rank calls this, in the same order.
    public func verifyConsistency(when: String, includeBuffers: Bool = true) throws {
        try Replicas.verify(net.store, comm: comm, when: when, includeBuffers: includeBuffers)
    }

    /// BN running statistics averaged over ranks (they differ without SyncBN).
    /// - Important: Collective — every rank calls this, in the same order.
    public func averageRunningStatistics() throws { try Replicas.averageRunningStatistics(net.store, comm: comm) }

    /// One step on this rank's slice of a global batch: forward, losses of the global
    /// batch, backward, gradient allreduce, optimizer update. Before any hook or the
    /// optimizer sees the summed gradients, the loss and the gradient norm are checked
    /// (StepCheck): a non-finite or diverging step throws `TrainingDiverged` with the
    /// session as it was before the step, or, with `train.on_nonfinite: skip`, is counted
    /// and left without update.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func step(_ batch: Batch, epochProgress: Double? = nil) throws -> StepMetrics {
        try comm.watched("training step \(state.iteration + 1) (epoch \(state.epoch + 1))") {
            try watchedStep(batch, epochProgress: epochProgress)
        }
    }

    private func watchedStep(_ batch: Batch, epochProgress: Double?) throws -> StepMetrics {
        let stepStart = DispatchTime.now().uptimeNanoseconds
        let epochPosition = epochProgress ?? Double(state.epoch)
        let lr = config.schedule.rate(at: epochPosition)
        optimizer.learningRate = Float(lr)
        check.remember(net.store)
        var m: StepMetrics, detail: String?
        do {
            m = try forwardBackward(batch, synchronize: true)
            m.gradientNorm = net.store.gradientNorm()
        } catch let error as LossError where error.kind == .nonFinite {
            // Every rank computes the metric losses on the same gathered features: all throw.
            m = StepMetrics(loss: .nan, crossEntropy: .nan, triplet: .nan, contrastive: .nan, center: .nan, accuracy: 0,
                            learningRate: lr)
            detail = error.description
        }
        m.learningRate = lr
        let verdict = check.verdict(loss: m.loss, gradientNorm: m.gradientNorm, learningRate: lr, state: state,
                                    step: "epoch \(state.epoch + 1), iteration \(state.iteration + 1)", detail: detail)
        switch verdict {
        case .update:
            for hook in hooks { try hook.beforeUpdate(self) }
            optimizer.step()
            centerLoss?.step(learningRate: config.centerLearningRate)
            onPhase?(.update)
            if state.firstLoss == nil { state.firstLoss = m.loss }
        case .skip(let why):
            check.restore(net.store)
            m.skipped = true
            state.skippedSteps += 1
            try log?.write(["event": "skipped_step", "epoch": state.epoch, "iteration": state.iteration + 1, "loss": m.loss,
                            "grad_norm": m.gradientNorm, "lr": lr, "skipped_steps": state.skippedSteps, "reason": why])
        case .stop(let message):
            check.restore(net.store)
            try? log?.write(["event": "stopped", "epoch": state.epoch, "iteration": state.iteration + 1, "loss": m.loss,
                             "grad_norm": m.gradientNorm, "lr": lr, "reason": message])
            throw TrainingDiverged(message)
        }
        state.iteration += 1
        let every = config.distributed.checksumEvery
        // Without SyncBN each rank's BN running statistics follow its own batches (they are
        // averaged before evaluation and checkpoints), so only parameters must agree here.
        if every > 0 && state.iteration % every == 0 {
            try verifyConsistency(when: "at iteration \(state.iteration)", includeBuffers: config.distributed.syncBN)
        }
        lastStepSeconds = Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
        return m
    }

    /// Forward, losses of the global batch and backward, writing this rank's gradients
    /// (summed over ranks when `synchronize`); no update. Pruning criteria that need
    /// gradients run this.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func forwardBackward(_ batch: Batch, synchronize: Bool) throws -> StepMetrics {
        let out = try net.forward(batch.images, mode: .training)
        onPhase?(.forward)
        let n = batch.count, d = out.features.shape[1]
        // The global batch: every rank's features and labels, this rank's rows at `offset`.
        let counts = try comm.allgather(ints: [n]).map { $0[0] }
        let total = counts.reduce(0, +), offset = counts[..<comm.rank].reduce(0, +)
        var m = StepMetrics(loss: 0, crossEntropy: 0, triplet: 0, contrastive: 0, center: 0, accuracy: 0,
                            learningRate: Double(optimizer.learningRate))
        var gl: Tensor?
        var local = [0.0, 0.0]  // cross-entropy sum, correct predictions
        if config.crossEntropyWeight > 0, let logits = out.logits {
            let g = dLogits.get([n, logits.shape[1]])
            let ce = CrossEntropyLoss(epsilon: config.labelSmoothing)(logits: logits, labels: batch.pids, gradient: g)
            scale(g, config.crossEntropyWeight * Float(n) / Float(total))
            local = [ce * Double(n), Trainer.accuracy(logits, batch.pids) * Double(n)]
            gl = g
        }
        try local.withUnsafeMutableBufferPointer { try comm.allreduce($0.baseAddress!, count: 2, op: .sum) }
        m.crossEntropy = local[0] / Double(total)
        m.accuracy = local[1] / Double(total)
        let gf = dFeatures.get([n, d])
        gf.zero()
        let metric = config.tripletWeight > 0 || config.contrastiveWeight > 0 || centerLoss != nil
        if metric {
            let features: Tensor, labels: [Int]
            if comm.size > 1 {
                features = Tensor(shape: [total, d], layout: .nc, values: try comm.allgather(floats: out.features.toArray()).flatMap { $0 })
                labels = try comm.allgather(ints: batch.pids).flatMap { $0 }
            } else {
                (features, labels) = (out.features, batch.pids)
            }
            let tmp = scratch.get([total, d])
            let own = { (weight: Float) in
                let src = tmp.data + offset * d
                for i in 0..<(n * d) { gf[i] += weight * src[i] }
            }
            if config.tripletWeight > 0 {
                m.triplet = try TripletLoss(margin: config.tripletMargin, softMargin: config.softMargin)(
                    features: features, labels: labels, gradient: tmp).loss
                own(config.tripletWeight)
            }
            if config.contrastiveWeight > 0 {
                m.contrastive = try ContrastiveLoss(margin: config.contrastiveMargin)(features: features, labels: labels,
                                                                                  gradient: tmp)
                own(config.contrastiveWeight)
            }
            if let centerLoss {
                m.center = try centerLoss(features: features, labels: labels, gradient: tmp)
                own(config.centerWeight)
            }
        }
        m.loss = Double(config.crossEntropyWeight) * m.crossEntropy + Double(config.tripletWeight) * m.triplet
            + Double(config.contrastiveWeight) * m.contrastive + Double(config.centerWeight) * m.center
        onPhase?(.losses)
        if synchronize { sync.beginBackward() }
        try net.backward(dFeatures: gf, dLogits: gl)
        if synchronize { try sync.finishBackward() }
        onPhase?(.backward)
        return m
    }

    /// Forward and backward of this rank's batch without synchronizing or updating:
    /// the gradients data-driven pruning criteria read.
    /// - Important: Collective — every rank calls this, in the same order.
    public func accumulateGradients(_ batch: Batch) throws { try forwardBackward(batch, synchronize: false) }

    /// True once `train.max_iterations` (when set) is reached.
    public var reachedMaxIterations: Bool { config.maxIterations > 0 && state.iteration >= config.maxIterations }

    /// The iterations trained when `train.max_iterations` ended the run before its epochs; nil otherwise.
    public var iterationsIfCut: Int? { reachedMaxIterations && state.epoch < config.epochs ? state.iteration : nil }

    /// What the run trained, for its closing line: its epochs, or its iterations when
    /// `train.max_iterations` ended it before them.
    public var trainedAmount: String {
        iterationsIfCut.map { "\($0) iteration(s) (train.max_iterations), in epoch \(state.epoch + 1) of \(config.epochs)" }
            ?? "\(config.epochs) epoch\(config.epochs == 1 ? "" : "s")"
    }

    /// Trains from the current state to `config.epochs`, running the hooks; stops early
    /// at `train.max_iterations` (a rerun resumes at that batch).
    /// - Important: Collective — every rank calls this, in the same order.
    public func train() throws {
        let bar = ProgressBar(enabled: config.progress && comm.isRoot)
        defer { bar.finish() }  // also when a step stops the run: its message starts a line of its own
        while !reachedMaxIterations {
            for hook in hooks { try hook.beforeEpoch(self) }
            guard state.epoch < config.epochs, try trainEpoch(bar) else { break }
            try comm.watched("after epoch \(state.epoch)") {
                for hook in hooks { try hook.afterEpoch(self) }
                try stopIfAsked()
            }
        }
        try comm.watched("end of training at iteration \(state.iteration)") {
            for hook in hooks { try hook.afterTrain(self) }
        }
    }

    /// One epoch from `state.batchInEpoch` (a checkpoint written mid-epoch resumes at the
    /// next batch); false when max_iterations stopped it.
    private func trainEpoch(_ bar: ProgressBar) throws -> Bool {
        // Started first, a loader knows the epoch's count from the plan it just made.
        source.startEpoch(state.epoch, at: state.batchInEpoch)
        let perEpoch = source.batches(inEpoch: state.epoch)
        batchesThisEpoch = perEpoch
        let first = min(state.batchInEpoch, perEpoch)
        let start = Date()
        var images = 0
        for i in first..<perEpoch {
            if reachedMaxIterations { return false }
            let batch = try source.next()
            let m = try step(batch, epochProgress: Double(state.epoch) + Double(i) / Double(perEpoch))
            images += batch.count
            if !m.skipped { (state.epochLossSum, state.epochLosses) = (state.epochLossSum + m.loss, state.epochLosses + 1) }
            state.batchInEpoch = i + 1
            try comm.watched("after training step \(state.iteration)") {
                for hook in hooks { try hook.afterStep(self) }
                // At an epoch's end the request is looked at once its hooks have run.
                if i < perEpoch - 1 { try stopIfAsked() }
            }
            let elapsed = Date().timeIntervalSince(start)
            let rate = Double(images * comm.size) / max(elapsed, 1e-9)
            let remaining = Double(perEpoch - i - 1 + (config.epochs - state.epoch - 1) * perEpoch)
                * elapsed / Double(i + 1 - first)
            bar.update(epoch: state.epoch + 1, epochs: config.epochs, done: i + 1, total: perEpoch,
                       imagesPerSecond: rate, loss: m.loss, etaSeconds: remaining)
            if state.iteration % config.logEvery == 0 || i == perEpoch - 1 {
                let wait = (source as? DataLoader)?.waitSeconds ?? (source as? ClassificationSource)?.waitSeconds ?? 0
                defer { loggedWaitSeconds = wait }
                try log?.write(["event": "train", "epoch": state.epoch, "iteration": state.iteration,
                                "loss": m.loss, "ce": m.crossEntropy, "triplet": m.triplet,
                                "contrastive": m.contrastive, "center": m.center, "accuracy": m.accuracy,
                                "lr": m.learningRate, "grad_norm": m.gradientNorm, "images_per_s": rate,
                                "sync_seconds": sync.lastSeconds, "step_seconds": lastStepSeconds,
                                "loader_wait_seconds": max(0, wait - loggedWaitSeconds),
                                "precision": config.precision.rawValue])
            }
        }
        // The state holds the epoch's losses so far (a checkpoint inside it carries them); closed here.
        let (lossSum, losses) = (state.epochLossSum, state.epochLosses)
        (state.epochLossSum, state.epochLosses) = (0, 0)
        state.epoch += 1
        state.batchInEpoch = 0
        let meanLoss = lossSum / Double(max(losses, 1))
        // The divergence bound's reference from now on (every rank holds the same losses).
        if state.epoch == 1 && losses > 0 && state.firstEpochMeanLoss == nil { state.firstEpochMeanLoss = meanLoss }
        try log?.write(["event": "epoch", "epoch": state.epoch, "mean_loss": meanLoss, "skipped_steps": state.skippedSteps,
                        "seconds": Date().timeIntervalSince(start)])
        return true
    }

    /// When a stop signal (StopSignals) reached any rank: every rank, at this same step,
    /// writes the checkpoint and throws `Preempted`. A rerun resumes after this step. The
    /// signal named is the one the ranks agree on (the highest code), not each rank's own:
    /// a signal sent to every rank may reach one of them a moment after the others.
    /// - Important: Collective — every rank calls this, in the same order.
    func stopIfAsked() throws {
        let mine = StopSignals.current?.requested
        var code = [Double(mine.flatMap { StopSignals.names.firstIndex(of: $0) }.map { $0 + 1 } ?? 0)]
        try code.withUnsafeMutableBufferPointer { try comm.allreduce($0.baseAddress!, count: 1, op: .max) }
        guard code[0] > 0 else { return }
        let signal = StopSignals.names[Int(code[0]) - 1]
        let epoch = state.lastStepEpoch
        // Logged first, so that the checkpoint's share of the log (which a resume keeps) holds it.
        try log?.write(["event": "preempted", "epoch": state.epoch, "iteration": state.iteration, "signal": signal])
        try saveCheckpoint()
        StopSignals.current?.noteStopCheckpointWritten()
        throw Preempted(signal: signal, message: "stopped by \(signal) in epoch \(epoch) after iteration \(state.iteration): "
                        + "checkpoint \(checkpointPath ?? "written by the root"); run the same command again to resume")
    }

    static func accuracy(_ logits: Tensor, _ labels: [Int]) -> Double {
        let k = logits.shape[1]
        var right = 0
        for (i, y) in labels.enumerated() {
            let row = logits.data + i * k
            var best = 0
            for j in 1..<k where row[j] > row[best] { best = j }
            if best == y { right += 1 }
        }
        return Double(right) / Double(labels.count)
    }

    private func scale(_ t: Tensor, _ a: Float) {
        if a != 1 { for i in 0..<t.count { t[i] *= a } }
    }
}

/// A tensor kept between steps and reallocated only when its shape changes.
struct ActivationBuffer {
    private var tensor: Tensor?

    mutating func get(_ shape: [Int]) -> Tensor {
        if let t = tensor, t.shape == shape { return t }
        let t = Tensor(shape: shape, layout: .nc)
        tensor = t
        return t
    }
}
