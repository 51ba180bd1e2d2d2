// Trainer: the single-process training loop: forward the Siamese network over a batch,
// the configured losses (identity cross-entropy on the logits, batch-hard triplet,
// contrastive and center losses on the features before BNNeck), backward, optimizer
// step; the learning-rate schedule per iteration, a progress bar, JSON-lines metrics and
// checkpoints in the run folder, and resuming from a checkpoint.
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

    public init(net: ReIDNet, source: BatchSource, config: TrainerConfig, runDirectory: String?) throws {
        try config.validate()
        guard net.headConfig.numClasses == source.numClasses || config.crossEntropyWeight == 0 else {
            throw ConfigError("the classifier has \(net.headConfig.numClasses) classes but the data has "
                              + "\(source.numClasses) identities")
        }
        self.net = net
        self.config = config
        self.source = source
        self.runDirectory = runDirectory
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
        if let runDirectory {
            do {
                try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
            } catch {
                throw ConfigError("\(runDirectory): cannot create the run folder: \(error.localizedDescription)")
            }
            log = try MetricsLog(path: runDirectory + "/metrics.jsonl")
        } else {
            log = nil
        }
    }

    /// Path of the checkpoint the run writes and resumes from.
    public var checkpointPath: String? { runDirectory.map { $0 + "/checkpoint.safetensors" } }

    /// Continues from a checkpoint (model, optimizer, schedule position, RNG).
    public func resume(from path: String) throws {
        state = try Checkpoint.load(from: path, net: net, optimizer: optimizer, centerLoss: centerLoss)
    }

    /// Writes the run's checkpoint now.
    public func saveCheckpoint() throws {
        guard let checkpointPath else { return }
        state.optimizerSteps = optimizer.stepCount
        try Checkpoint.save(to: checkpointPath, net: net, optimizer: optimizer, state: state, centerLoss: centerLoss)
    }

    /// One step on one batch: forward, losses, backward, optimizer update.
    @discardableResult
    public func step(_ batch: Batch, epochProgress: Double? = nil) -> StepMetrics {
        let epochPosition = epochProgress ?? Double(state.epoch)
        let lr = config.schedule.rate(at: epochPosition)
        optimizer.learningRate = Float(lr)
        let out = net.forward(batch.images, mode: .training)
        let n = batch.count, d = out.features.shape[1]
        var m = StepMetrics(loss: 0, crossEntropy: 0, triplet: 0, contrastive: 0, center: 0, accuracy: 0,
                            learningRate: lr)
        var gl: Tensor?
        if config.crossEntropyWeight > 0, let logits = out.logits {
            let g = dLogits.get([n, logits.shape[1]])
            m.crossEntropy = CrossEntropyLoss(epsilon: config.labelSmoothing)(logits: logits, labels: batch.pids,
                                                                             gradient: g)
            scale(g, config.crossEntropyWeight)
            m.accuracy = Trainer.accuracy(logits, batch.pids)
            gl = g
        }
        let gf = dFeatures.get([n, d])
        gf.zero()
        let tmp = scratch.get([n, d])
        if config.tripletWeight > 0 {
            m.triplet = TripletLoss(margin: config.tripletMargin, softMargin: config.softMargin)(
                features: out.features, labels: batch.pids, gradient: tmp).loss
            axpy(gf, tmp, config.tripletWeight)
        }
        if config.contrastiveWeight > 0 {
            m.contrastive = ContrastiveLoss(margin: config.contrastiveMargin)(features: out.features,
                                                                              labels: batch.pids, gradient: tmp)
            axpy(gf, tmp, config.contrastiveWeight)
        }
        if let centerLoss {
            m.center = centerLoss(features: out.features, labels: batch.pids, gradient: tmp)
            axpy(gf, tmp, config.centerWeight)
        }
        m.loss = Double(config.crossEntropyWeight) * m.crossEntropy + Double(config.tripletWeight) * m.triplet
            + Double(config.contrastiveWeight) * m.contrastive + Double(config.centerWeight) * m.center
        net.backward(dFeatures: gf, dLogits: gl)
        optimizer.step()
        centerLoss?.step(learningRate: config.centerLearningRate)
        state.iteration += 1
        return m
    }

    /// Trains from the current state to `config.epochs`, logging, checkpointing and
    /// showing progress; `afterEpoch` runs after each epoch with the epochs completed
    /// (evaluation, for example).
    public func train(afterEpoch: ((Int) throws -> Void)? = nil) throws {
        let bar = ProgressBar(enabled: config.progress)
        let perEpoch = source.batchesPerEpoch
        while state.epoch < config.epochs {
            source.startEpoch(state.epoch)
            let start = Date()
            var images = 0, lossSum = 0.0
            for i in 0..<perEpoch {
                let batch = try source.next()
                let m = step(batch, epochProgress: Double(state.epoch) + Double(i) / Double(perEpoch))
                images += batch.count
                lossSum += m.loss
                let elapsed = Date().timeIntervalSince(start)
                let rate = Double(images) / max(elapsed, 1e-9)
                let remaining = Double(perEpoch - i - 1 + (config.epochs - state.epoch - 1) * perEpoch)
                    * elapsed / Double(i + 1)
                bar.update(epoch: state.epoch + 1, epochs: config.epochs, done: i + 1, total: perEpoch,
                           imagesPerSecond: rate, loss: m.loss, etaSeconds: remaining)
                if state.iteration % config.logEvery == 0 || i == perEpoch - 1 {
                    log?.write(["event": "train", "epoch": state.epoch, "iteration": state.iteration,
                                "loss": m.loss, "ce": m.crossEntropy, "triplet": m.triplet,
                                "contrastive": m.contrastive, "center": m.center, "accuracy": m.accuracy,
                                "lr": m.learningRate, "images_per_s": rate])
                }
            }
            state.epoch += 1
            log?.write(["event": "epoch", "epoch": state.epoch, "mean_loss": lossSum / Double(perEpoch),
                        "seconds": Date().timeIntervalSince(start)])
            try afterEpoch?(state.epoch)
            if (config.checkpointEvery > 0 && state.epoch % config.checkpointEvery == 0) || state.epoch == config.epochs {
                try saveCheckpoint()
            }
        }
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
