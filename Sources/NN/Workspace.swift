// Workspace: the memory a model's forward and backward passes reuse from step to step:
// a pool of buffers handed out as tensors of any shape that fits and returned when
// consumed. Training takes from it what backward needs (each unit's convolution output,
// each block's output) and gives it back during backward, so the gradients of the
// backward pass reuse the memory of the activations already consumed.
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

/// Buffers handed out as tensors of the requested shape and returned when their consumer
/// is done. A request takes the smallest free buffer that holds it and is at most twice
/// its size (so that memory moves between layers of different shapes without a small
/// tensor pinning a large buffer), else a new one; buffers are kept for the next step.
public final class TensorPool {
    /// Free buffers (each a tensor owning its memory).
    private var free: [Tensor] = []
    /// Buffers handed out, by the address of their memory.
    private var lent: [UnsafeMutablePointer<Float>: Tensor] = [:]
    /// Buffers allocated so far.
    public private(set) var allocated = 0

    public init() {}

    /// Bytes of every buffer the pool holds, free or handed out.
    public var bytes: Int { (free + lent.values).reduce(0) { $0 + $1.count * MemoryLayout<Float>.stride } }

    /// A tensor of this shape with unspecified contents.
    func take(_ shape: [Int], _ layout: Layout) -> Tensor {
        let n = max(shape.reduce(1, *), 1)
        var best: Int?
        for (i, b) in free.enumerated() where b.count >= n && b.count <= 2 * n {
            if best == nil || b.count < free[best!].count { best = i }
        }
        let base: Tensor
        if let best {
            base = free.remove(at: best)
        } else {
            base = Tensor(shape: [n], layout: .x)
            allocated += 1
        }
        lent[base.data] = base
        return base.prefixView(shape, layout: layout)
    }

    /// Returns a tensor taken from the pool (a tensor from elsewhere joins the pool).
    func give(_ t: Tensor) {
        if let base = lent.removeValue(forKey: t.data) {
            free.append(base)
        } else {
            require(!free.contains { $0.data == t.data }, "TensorPool: \(t) given back twice")
            free.append(t)
        }
    }

    /// Drops every free buffer (for example after the batch size changed).
    public func clear() { free.removeAll() }
}
