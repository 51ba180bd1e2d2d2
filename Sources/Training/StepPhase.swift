// StepPhase: the parts of a training step in the order they run, named for observers
// that record something after each (the training benchmark's resident-memory
// high-water mark per phase).

/// A part of `Trainer.step` that has just finished.
public enum StepPhase: String, Sendable, Codable, CaseIterable {
    /// The network's training forward (activations saved for backward).
    case forward
    /// The losses and their gradients of the network's outputs.
    case losses
    /// The network's backward (every parameter gradient, synchronized across ranks).
    case backward
    /// The optimizer's update of the parameters.
    case update
}
