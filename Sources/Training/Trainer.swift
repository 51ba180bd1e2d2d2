// Trainer: the training loop of one rank: forward the Siamese network over this rank's
// slice of the global batch, the configured losses (identity cross-entropy on the
// logits; batch-hard triplet, contrastive and center losses on the features before
// BNNeck, mined over the whole global batch by gathering every rank's features),
// backward, gradient allreduce, optimizer step; the learning-rate schedule per
// iteration; on the root, a progress bar, JSON-lines metrics and checkpoints. Each
// rank's loss gradients are those of the global-batch loss, so the summed gradients of
// N ranks equal one rank's on the whole batch.
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
}

public final class Trainer {
    public let net: ReIDNet
    public let config: TrainerConfig
    public let source: BatchSource
    public let optimizer: Optimizer
    public let centerLoss: CenterLoss?
    public private(set) var state = TrainingState()
    /// The run folder (metrics.jsonl, checkpoints); nil writes nothing.
    public let runDirectory: String?
    public let log: MetricsLog?
    private var dLogits = ActivationBuffer(), dFeatures = ActivationBuffer(), scratch = ActivationBuffer()
    public let comm: Communicator
    public let sync: GradientSync
    private let reducer: CommunicatorReducer
    /// Seconds of the last step, and of it in gradient communication.
    public private(set) var lastStepSeconds = 0.0

    public init(net: ReIDNet, source: BatchSource, config: TrainerConfig, runDirectory: String?,
                comm: Communicator = LocalCommunicator()) throws {
        try config.validate()
        guard net.headConfig.numClasses == source.numClasses || config.crossEntropyWeight == 0 else {
            throw ConfigError("the classifier has \(net.headConfig.numClasses) classes but the data has "
                              + "\(source.numClasses) identities")
        }
        self.net = net
        self.config = config
        self.source = source
        self.comm = comm
        self.runDirectory = comm.isRoot ? runDirectory : nil
        sync = GradientSync(store: net.store, comm: comm, mode: config.distributed.syncMode,
                            bucketBytes: config.distributed.bucketBytes)
        reducer = CommunicatorReducer(comm)
        net.setStatisticsReducer(config.distributed.syncBN ? reducer : nil)
        let policy = DecayPolicy(weightDecay: config.weightDecay, decayNormAndBias: config.decayNormAndBias)
        let lr = Float(config.schedule.rate(at: 0))
        switch config.optimizer {
        case .sgd:
            optimizer = SGD(store: net.store, learningRate: lr, momentum: config.momentum, nesterov: config.nesterov,
                            policy: policy)
        case .adam:
            optimizer = Adam(store: net.store, learningRate: lr, policy: policy)
        case .adamw:
            optimizer = Adam(store: net.store, learningRate: lr, decoupled: true, policy: policy)
        }
        centerLoss = config.centerWeight > 0
            ? CenterLoss(numClasses: source.numClasses, dim: net.head.outputDim, seed: config.seed) : nil
        state.rng = SeededRandom(seed: config.seed)
        var failure = ""
        var log: MetricsLog?
        if let runDirectory = self.runDirectory {
            do {
                try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
                log = try MetricsLog(path: runDirectory + "/metrics.jsonl")
            } catch {
                failure = "\(runDirectory): cannot create the run folder or its metrics log: \(error)"
            }
        }
        self.log = log
        // Every rank learns whether the root could set up, so none waits for a root that failed.
        failure = try comm.broadcast(string: failure)
        if !failure.isEmpty { throw ConfigError(failure) }
        try broadcastModel()
        try verifyConsistency(when: "at start")
    }

    /// Runs after the gradients are summed and before the optimizer step (training-time
    /// pruning regularizers add to the gradients here; every rank computes the same).
    public var beforeUpdate: (() throws -> Void)?

    /// Keeps a string in the training state (saved with every checkpoint).
    public func setNote(_ key: String, _ value: String) { state.notes[key] = value }

    /// Continues a run another trainer started (after pruning replaced the network).
    public func adopt(_ previous: TrainingState, optimizerSteps: Int) {
        state = previous
        optimizer.stepCount = optimizerSteps
    }

    /// Path of the checkpoint the run writes and resumes from.
    public var checkpointPath: String? { runDirectory.map { $0 + "/checkpoint.safetensors" } }

    /// Continues from a checkpoint (model, optimizer, schedule position, RNG): the root
    /// reads it and every rank receives it, so only the root needs the file.
    /// - Important: Collective — every rank calls this, in the same order.
    public func resume(from path: String) throws {
        var failure = ""
        if comm.isRoot {
            do {
                state = try Checkpoint.load(from: path, net: net, optimizer: optimizer, centerLoss: centerLoss)
            } catch {
                failure = "\(error)"
            }
        }
        failure = try comm.broadcast(string: failure)
        if !failure.isEmpty { throw ConfigError(failure) }
        try broadcastModel(includingMoments: true)
        let encoded = try comm.broadcast(string: String(decoding: try JSONEncoder().encode(state), as: UTF8.self))
        state = try JSONDecoder().decode(TrainingState.self, from: Data(encoded.utf8))
        optimizer.stepCount = state.optimizerSteps
        try verifyConsistency(when: "after resuming")
    }

    /// Writes the run's checkpoint now (BN running statistics averaged over ranks first).
    /// - Important: Collective — every rank calls this, in the same order.
    public func saveCheckpoint() throws {
        try averageRunningStatistics()
        state.optimizerSteps = optimizer.stepCount
        guard let checkpointPath else { return }
        try Checkpoint.save(to: checkpointPath, net: net, optimizer: optimizer, state: state, centerLoss: centerLoss)
    }

    /// The root's parameters and buffers (and optimizer moments) on every rank.
    /// - Important: Collective — every rank calls this, in the same order.
    public func broadcastModel(includingMoments: Bool = false) throws {
        guard comm.size > 1 else { return }
        let s = net.store
        try comm.broadcast(s.parameters, count: s.parameterCapacity, root: 0)
        try comm.broadcast(s.buffers, count: s.bufferCapacity, root: 0)
        if includingMoments {
            for name in optimizer.momentNames { try comm.broadcast(s.moment(name), count: s.parameterCapacity, root: 0) }
        }
        if let centerLoss { try comm.broadcast(centerLoss.centers.data, count: centerLoss.centers.count, root: 0) }
        s.parametersChanged()
    }

    /// BN running statistics averaged over ranks (they differ without SyncBN).
    /// - Important: Collective — every rank calls this, in the same order.
    public func averageRunningStatistics() throws {
        guard comm.size > 1 else { return }
        let s = net.store
        for (i, slot) in s.bufferSlots.enumerated() where s.bufferRoles[i] != .batchCount {
            try comm.allreduce(s.buffers + slot.offset, count: slot.count, op: .average)
        }
        s.parametersChanged()
    }

    /// Compares a checksum of parameters and buffers across ranks; a mismatch names the
    /// ranks and the first slot that differs.
    /// - Important: Collective — every rank calls this, in the same order.
    public func verifyConsistency(when: String, includeBuffers: Bool = true) throws {
        try verifyReplicas(net.store, comm: comm, when: when, includeBuffers: includeBuffers)
    }

    /// One step on this rank's slice of a global batch: forward, losses of the global
    /// batch, backward, gradient allreduce, optimizer update.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func step(_ batch: Batch, epochProgress: Double? = nil) throws -> StepMetrics {
        let stepStart = DispatchTime.now().uptimeNanoseconds
        let epochPosition = epochProgress ?? Double(state.epoch)
        let lr = config.schedule.rate(at: epochPosition)
        optimizer.learningRate = Float(lr)
        var m = try forwardBackward(batch, synchronize: true)
        m.learningRate = lr
        try beforeUpdate?()
        optimizer.step()
        centerLoss?.step(learningRate: config.centerLearningRate)
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
                m.triplet = TripletLoss(margin: config.tripletMargin, softMargin: config.softMargin)(
                    features: features, labels: labels, gradient: tmp).loss
                own(config.tripletWeight)
            }
            if config.contrastiveWeight > 0 {
                m.contrastive = ContrastiveLoss(margin: config.contrastiveMargin)(features: features, labels: labels,
                                                                                  gradient: tmp)
                own(config.contrastiveWeight)
            }
            if let centerLoss {
                m.center = centerLoss(features: features, labels: labels, gradient: tmp)
                own(config.centerWeight)
            }
        }
        m.loss = Double(config.crossEntropyWeight) * m.crossEntropy + Double(config.tripletWeight) * m.triplet
            + Double(config.contrastiveWeight) * m.contrastive + Double(config.centerWeight) * m.center
        if synchronize { sync.beginBackward() }
        try net.backward(dFeatures: gf, dLogits: gl)
        if synchronize { try sync.finishBackward() }
        return m
    }

    /// Trains from the current state to `config.epochs`, logging, checkpointing and
    /// showing progress; `afterEpoch` runs after each epoch with the epochs completed
    /// (evaluation, for example).
    public func train(until lastEpoch: Int? = nil, afterEpoch: ((Int) throws -> Void)? = nil) throws {
        let bar = ProgressBar(enabled: config.progress && comm.isRoot)
        let perEpoch = source.batchesPerEpoch
        let stop = min(lastEpoch ?? config.epochs, config.epochs)
        while state.epoch < stop {
            if config.maxIterations > 0 && state.iteration >= config.maxIterations { break }
            // A checkpoint written mid-epoch resumes at the next batch of the same epoch.
            let first = min(state.batchInEpoch, perEpoch)
            source.startEpoch(state.epoch, at: first)
            let start = Date()
            var images = 0, lossSum = 0.0
            var interrupted = false
            for i in first..<perEpoch {
                if config.maxIterations > 0 && state.iteration >= config.maxIterations {
                    interrupted = true
                    break
                }
                let batch = try source.next()
                let m = try step(batch, epochProgress: Double(state.epoch) + Double(i) / Double(perEpoch))
                images += batch.count
                lossSum += m.loss
                state.batchInEpoch = i + 1
                if config.checkpointIterations > 0 && state.iteration % config.checkpointIterations == 0 && i + 1 < perEpoch {
                    try saveCheckpoint()
                }
                let elapsed = Date().timeIntervalSince(start)
                let rate = Double(images * comm.size) / max(elapsed, 1e-9)
                let remaining = Double(perEpoch - i - 1 + (config.epochs - state.epoch - 1) * perEpoch)
                    * elapsed / Double(i + 1 - first)
                bar.update(epoch: state.epoch + 1, epochs: config.epochs, done: i + 1, total: perEpoch,
                           imagesPerSecond: rate, loss: m.loss, etaSeconds: remaining)
                if state.iteration % config.logEvery == 0 || i == perEpoch - 1 {
                    log?.write(["event": "train", "epoch": state.epoch, "iteration": state.iteration,
                                "loss": m.loss, "ce": m.crossEntropy, "triplet": m.triplet,
                                "contrastive": m.contrastive, "center": m.center, "accuracy": m.accuracy,
                                "lr": m.learningRate, "images_per_s": rate, "sync_seconds": sync.lastSeconds,
                                "step_seconds": lastStepSeconds])
                }
            }
            // A run stopped by max_iterations resumes at the batch where it stopped.
            if interrupted { break }
            state.epoch += 1
            state.batchInEpoch = 0
            log?.write(["event": "epoch", "epoch": state.epoch, "mean_loss": lossSum / Double(max(perEpoch - first, 1)),
                        "seconds": Date().timeIntervalSince(start)])
            try afterEpoch?(state.epoch)
            if (config.checkpointEvery > 0 && state.epoch % config.checkpointEvery == 0) || state.epoch == config.epochs {
                try saveCheckpoint()
            }
        }
        if config.maxIterations > 0 && state.iteration >= config.maxIterations { try saveCheckpoint() }
        bar.finish()
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

    /// y += a x
    private func axpy(_ y: Tensor, _ x: Tensor, _ a: Float) {
        for i in 0..<y.count { y[i] += a * x[i] }
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

/// Compares a checksum of `store` (parameters, and buffers when asked) across ranks; a
/// mismatch names the ranks and the first slot that differs.
/// - Important: Collective — every rank calls this, in the same order.
func verifyReplicas(_ store: ParameterStore, comm: Communicator, when: String, includeBuffers: Bool = true) throws {
    guard comm.size > 1 else { return }
    let c = store.checksum(includeBuffers: includeBuffers)
    let sums = try comm.allgather(ints: [Int(bitPattern: UInt(c.sum.bitPattern)), Int(bitPattern: UInt(c.weighted.bitPattern))])
    guard sums.contains(where: { $0 != sums[0] }) else { return }
    let slots = try comm.allgather(floats: store.slotChecksums(includeBuffers: includeBuffers).map { Float($0) })
    let names = store.parameterSlots.map(\.name) + (includeBuffers ? store.bufferSlots.map(\.name) : [])
    let bad = (1..<sums.count).filter { sums[$0] != sums[0] }
    let first = names.indices.first { i in bad.contains { slots[$0][i] != slots[0][i] } }
    throw CommunicationError("replicas diverged \(when): ranks \(bad.map(String.init).joined(separator: ", ")) differ "
                             + "from rank 0" + (first.map { ", first in '\(names[$0])'" } ?? ""))
}
