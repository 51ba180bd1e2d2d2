// Checkpoint: everything a run needs to continue where it stopped, in one safetensors
// file written to a temporary name and renamed: the model (with its architecture), the
// optimizer moments ("optimizer.<moment>.<parameter>"), center-loss centers, and in the
// metadata the epoch, iteration, optimizer step count, RNG state and pruning history.
import Foundation
import NN
import Optim
import Pruning
import Tensors

/// Where a run is: saved in every checkpoint.
public struct TrainingState: Codable, Sendable {
    /// Epochs completed.
    public var epoch = 0
    /// Iterations completed over the whole run.
    public var iteration = 0
    public var optimizerSteps = 0
    /// Batches of the current epoch already trained (a checkpoint written mid-epoch).
    public var batchInEpoch = 0
    public var rng = SeededRandom(seed: 1)
    /// The pruning rounds applied so far, in order (replayable on a fresh model).
    public var pruningHistory: [PrunePlan] = []
    /// The rounds the run's pretrained model (`model.pretrained`) went through before this
    /// run, for instance while pretraining by classification; the model file the run
    /// writes carries them followed by `pruningHistory`.
    public var inheritedHistory: [PrunePlan] = []
    /// Length of metrics.jsonl when the checkpoint was written (a resume drops the rows after it).
    public var metricsBytes: UInt64?
    /// The full recipe of the run (as the typed config renders it), which a resume checks.
    public var recipe: String?
    /// The run's first loss, then the first epoch's mean loss: what the divergence bound
    /// (`train.divergence_factor`) multiplies; nil until known.
    public var firstLoss: Double?
    public var firstEpochMeanLoss: Double?
    /// Steps whose update was skipped for non-finite values (`train.on_nonfinite: skip`).
    public var skippedSteps = 0
    /// Unreadable training images replaced over every rank (`data.skip_corrupt`), up to
    /// the checkpoint.
    public var replacedImages = 0
    /// The number of ranks that wrote the checkpoint (nil: written before it was recorded).
    public var ranks: Int?
    /// The losses of the current epoch's updated steps so far, summed, and their count: an
    /// epoch resumed in its middle logs the mean of all its steps, and the first epoch's
    /// mean (the divergence bound's reference) is the one an uninterrupted run takes.
    public var epochLossSum = 0.0
    public var epochLosses = 0

    /// The epoch of the last step, 1-based, as messages number it: the one in progress, or
    /// the one just finished at an epoch's end.
    public var lastStepEpoch: Int { batchInEpoch > 0 ? epoch + 1 : epoch }

    public init() {}

    enum CodingKeys: String, CodingKey {
        case epoch, iteration, optimizerSteps, batchInEpoch, rng, pruningHistory, metricsBytes, recipe, notes, firstLoss,
             firstEpochMeanLoss, skippedSteps, replacedImages, inheritedHistory, ranks, epochLossSum, epochLosses
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        iteration = try c.decode(Int.self, forKey: .iteration)
        optimizerSteps = try c.decode(Int.self, forKey: .optimizerSteps)
        batchInEpoch = try c.decodeIfPresent(Int.self, forKey: .batchInEpoch) ?? 0
        rng = try c.decode(SeededRandom.self, forKey: .rng)
        metricsBytes = try c.decodeIfPresent(UInt64.self, forKey: .metricsBytes)
        recipe = try c.decodeIfPresent(String.self, forKey: .recipe)
        if let history = try c.decodeIfPresent([PrunePlan].self, forKey: .pruningHistory) {
            pruningHistory = history
        } else if let text = try c.decodeIfPresent([String: String].self, forKey: .notes)?["pruning_history"] {
            // Checkpoints of earlier versions kept the history as a JSON string among free-form notes.
            pruningHistory = try PrunePlan.decodeHistory(text)
        }
        firstLoss = try c.decodeIfPresent(Double.self, forKey: .firstLoss)
        firstEpochMeanLoss = try c.decodeIfPresent(Double.self, forKey: .firstEpochMeanLoss)
        skippedSteps = try c.decodeIfPresent(Int.self, forKey: .skippedSteps) ?? 0
        replacedImages = try c.decodeIfPresent(Int.self, forKey: .replacedImages) ?? 0
        ranks = try c.decodeIfPresent(Int.self, forKey: .ranks)
        inheritedHistory = try c.decodeIfPresent([PrunePlan].self, forKey: .inheritedHistory) ?? []
        epochLossSum = try c.decodeIfPresent(Double.self, forKey: .epochLossSum) ?? 0
        epochLosses = try c.decodeIfPresent(Int.self, forKey: .epochLosses) ?? 0
    }

    /// Every pruning round of the model: the inherited ones, then this run's.
    public var fullHistory: [PrunePlan] { inheritedHistory + pruningHistory }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(iteration, forKey: .iteration)
        try c.encode(optimizerSteps, forKey: .optimizerSteps)
        try c.encode(batchInEpoch, forKey: .batchInEpoch)
        try c.encode(rng, forKey: .rng)
        try c.encode(pruningHistory, forKey: .pruningHistory)
        try c.encodeIfPresent(metricsBytes, forKey: .metricsBytes)
        try c.encodeIfPresent(recipe, forKey: .recipe)
        try c.encodeIfPresent(firstLoss, forKey: .firstLoss)
        try c.encodeIfPresent(firstEpochMeanLoss, forKey: .firstEpochMeanLoss)
        try c.encode(skippedSteps, forKey: .skippedSteps)
        if replacedImages > 0 { try c.encode(replacedImages, forKey: .replacedImages) }
        try c.encodeIfPresent(ranks, forKey: .ranks)
        if !inheritedHistory.isEmpty { try c.encode(inheritedHistory, forKey: .inheritedHistory) }
        if batchInEpoch > 0 {
            try c.encode(epochLossSum, forKey: .epochLossSum)
            try c.encode(epochLosses, forKey: .epochLosses)
        }
    }
}

public enum Checkpoint {
    static let stateKey = "reidprune.training_state"
    static let reserved = ["optimizer.", "center_loss."]

    /// The training state in a checkpoint's metadata, its counts checked.
    static func state(in file: SafetensorsFile) throws -> TrainingState {
        guard let json = file.metadata[stateKey] else {
            throw WeightsError("\(file.path): not a checkpoint (no '\(stateKey)' metadata)")
        }
        let state: TrainingState
        do {
            state = try JSONDecoder().decode(TrainingState.self, from: Data(json.utf8))
        } catch {
            throw WeightsError("\(file.path): unreadable training state: \(error)")
        }
        let counts = [("epoch", state.epoch, 0), ("iteration", state.iteration, 0), ("optimizerSteps", state.optimizerSteps, 0),
                      ("batchInEpoch", state.batchInEpoch, 0), ("skippedSteps", state.skippedSteps, 0),
                      ("replacedImages", state.replacedImages, 0), ("ranks", state.ranks ?? 1, 1),
                      ("epochLosses", state.epochLosses, 0)]
        // Above 2^40 a count is damage, not training, and adding to it could overflow.
        for (name, value, least) in counts where value < least || value > 1 << 40 {
            throw WeightsError("\(file.path): training state '\(name)' is \(value); a checkpoint never holds that")
        }
        guard state.epochLosses <= state.batchInEpoch, state.epochLossSum.isFinite else {
            throw WeightsError("\(file.path): training state holds \(state.epochLosses) losses summing to "
                               + "\(state.epochLossSum) for \(state.batchInEpoch) batches; a checkpoint never holds that")
        }
        return state
    }

    /// Writes a checkpoint atomically.
    public static func save(to path: String, net: ReIDNet, optimizer: Optimizer, state: TrainingState,
                            centerLoss: CenterLoss? = nil) throws {
        var w = try SafetensorsWriter.forNet(net)
        let store = net.store
        for name in optimizer.momentNames {
            for (i, slot) in store.parameterSlots.enumerated() where store.trainable[i] {
                w.add("optimizer.\(name).\(slot.name)", floats: UnsafeBufferPointer(store.moment(name, i).buffer),
                      shape: slot.shape)
            }
        }
        if let centerLoss {
            w.add("center_loss.centers", floats: UnsafeBufferPointer(centerLoss.centers.buffer),
                  shape: centerLoss.centers.shape)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        w.metadata[stateKey] = String(decoding: try encoder.encode(state), as: UTF8.self)
        w.hashData = true
        try w.write(to: path)
    }

    /// The training state a checkpoint holds (without reading its tensors).
    public static func state(at path: String) throws -> TrainingState {
        try state(in: SafetensorsFile(path: path))
    }

    /// The (possibly pruned) architecture a checkpoint's network has.
    public static func architecture(at path: String) throws -> ResNetArchitecture {
        guard let (arch, _) = try ModelWeights.architecture(of: try SafetensorsFile(path: path)) else {
            throw WeightsError("\(path): not a checkpoint (no architecture metadata)")
        }
        return arch
    }

    /// Loads a checkpoint into a network of the same architecture and an optimizer over
    /// its store; returns the saved state.
    public static func load(from path: String, net: ReIDNet, optimizer: Optimizer,
                            centerLoss: CenterLoss? = nil) throws -> TrainingState {
        let file = try SafetensorsFile(path: path)
        let state = try state(in: file)
        try file.verifyDataHash()
        let store = net.store
        var missing: [String] = []
        for name in optimizer.momentNames {
            for (i, slot) in store.parameterSlots.enumerated() where store.trainable[i] {
                if file.entry("optimizer.\(name).\(slot.name)") == nil { missing.append("optimizer.\(name).\(slot.name)") }
            }
        }
        if centerLoss != nil && file.entry("center_loss.centers") == nil { missing.append("center_loss.centers") }
        if !missing.isEmpty {
            throw WeightsError("\(path): checkpoint lacks optimizer state for this optimizer; missing keys (\(missing.count)): "
                               + missing.prefix(5).joined(separator: ", ") + (missing.count > 5 ? ", ..." : ""))
        }
        // Optimizer state and centers first, so that nothing is loaded when one is not finite;
        // the model's tensors are checked by ModelWeights.load.
        try file.requireFinite(optimizer.momentNames.flatMap { name in
            store.parameterSlots.indices.filter { store.trainable[$0] }.map { "optimizer.\(name).\(store.parameterSlots[$0].name)" }
        } + (centerLoss != nil ? ["center_loss.centers"] : []))
        // Adam's second moments are squares: a negative one (a damaged file) would make NaN updates.
        if optimizer.momentNames.contains("exp_avg_sq") {
            try file.requireNonNegative(store.parameterSlots.indices.filter { store.trainable[$0] }
                .map { "optimizer.exp_avg_sq.\(store.parameterSlots[$0].name)" }, what: "second moment")
        }
        try ModelWeights.load(file, into: net, match: .strict, ignoring: reserved)
        for name in optimizer.momentNames {
            for (i, slot) in store.parameterSlots.enumerated() where store.trainable[i] {
                let t = store.moment(name, i)
                try file.copyFloats("optimizer.\(name).\(slot.name)", into: t.data, count: t.count)
            }
        }
        if let centerLoss {
            try file.copyFloats("center_loss.centers", into: centerLoss.centers.data, count: centerLoss.centers.count)
        }
        optimizer.stepCount = state.optimizerSteps
        return state
    }
}
