// Optimizer: the protocol SGD and Adam(W) implement over a ParameterStore's flat
// buffers, and the per-slot policy (which slots train, which get weight decay).
import NN

public protocol Optimizer: AnyObject {
    var store: ParameterStore { get }
    var learningRate: Float { get set }
    /// Steps taken so far (Adam's bias correction uses it; checkpoints save it).
    var stepCount: Int { get set }
    /// Names of the moment buffers this optimizer keeps in the store.
    var momentNames: [String] { get }
    /// Updates every trainable parameter from its gradient.
    func step()
}

/// Which parameters an optimizer touches and which get weight decay.
public struct DecayPolicy: Sendable {
    public var weightDecay: Float
    /// PyTorch applies decay to every parameter by default; re-ID recipes often exempt
    /// BN scale/shift and biases.
    public var decayNormAndBias: Bool

    public init(weightDecay: Float = 5e-4, decayNormAndBias: Bool = true) {
        self.weightDecay = weightDecay
        self.decayNormAndBias = decayNormAndBias
    }

    /// (offset, count, weight decay) of every trainable slot.
    func ranges(_ store: ParameterStore) -> [(offset: Int, count: Int, decay: Float)] {
        store.parameterSlots.indices.compactMap { i in
            guard store.trainable[i] else { return nil }
            let role = store.parameterRoles[i]
            let exempt = !decayNormAndBias && (role == .normWeight || role == .normBias || role == .bias)
            let slot = store.parameterSlots[i]
            return (slot.offset, slot.count, exempt ? 0 : weightDecay)
        }
    }
}
