// Workspace: the memory a model's forward and backward passes reuse from step to step:
// per-layer activation tensors that training keeps for backward (reallocated only when
// a shape changes), and a pool of tensors handed out by shape and returned when
// consumed, which backward uses for gradients and inference for every activation.
import Tensors

/// Whether a forward pass trains (batch statistics, saves what backward needs) or infers.
public enum Mode: Sendable {
    case training
    case inference
}

/// A tensor slot that keeps its storage while the requested shape stays the same.
struct ActivationSlot {
    private(set) var tensor: Tensor?

    /// The slot's tensor with this shape, reallocated (zero-filled) only when it changed.
    mutating func get(_ shape: [Int], _ layout: Layout) -> Tensor {
        if let t = tensor, t.shape == shape, t.layout == layout { return t }
        let t = Tensor(shape: shape, layout: layout)
        tensor = t
        return t
    }
}

/// Tensors handed out by shape and returned when their consumer is done, so that a
/// backward or inference pass needs only a few activation-sized buffers at a time.
public final class TensorPool {
    private var free: [[Int]: [Tensor]] = [:]
    public private(set) var allocated = 0

    public init() {}

    /// A tensor of this shape with unspecified contents.
    func take(_ shape: [Int], _ layout: Layout) -> Tensor {
        if var list = free[shape], let t = list.popLast() {
            free[shape] = list
            if t.layout == layout { return t }
            return t.reshaped(shape, layout: layout)
        }
        allocated += 1
        return Tensor(shape: shape, layout: layout)
    }

    /// Returns a tensor taken from the pool.
    func give(_ t: Tensor) { free[t.shape, default: []].append(t) }

    /// Drops every pooled tensor (for example after the batch size changed).
    public func clear() { free.removeAll() }
}
