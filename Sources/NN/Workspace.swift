// Workspace: the memory a model's forward and backward passes reuse from step to step:
// a pool of page buffers handed out as tensors of any shape and returned when consumed.
// Training takes from it what backward needs (each unit's convolution output, each
// block's output) and gives it back during backward, so the gradients of the backward
// pass reuse the memory of the activations already consumed, whatever their shapes.
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

/// Memory handed out as tensors of the requested shape and returned when their consumer
/// is done. A request takes the smallest free buffer that holds it, splitting off what
/// it does not need; when none does, the free buffers smaller than the request are moved
/// together (their pages, not their contents' copies) and topped up with new memory. So
/// the pool never holds more than the most memory ever lent at once (in whole pages),
/// and it is kept for the next step. Tensors it hands out see its memory: give them back
/// only when done, and do not use them after.
///
/// A pool that has only served inference (`wholeBuffers`) neither splits nor joins: a
/// request takes the smallest free buffer that holds it whole, or new memory. Inference
/// repeats the same few requests every pass, so after the first pass every request finds
/// its buffer again; splitting and joining would instead move pages (and flush every
/// core's address translations) on each pass, which at batch 1 took a fifth of the time.
public final class TensorPool {
    private var free: [PageBuffer] = []
    /// Buffers handed out, by address.
    private var lent: [UnsafeMutableRawPointer: PageBuffer] = [:]
    /// New memory mapped so far (requests that the free buffers could not fully serve).
    public private(set) var allocated = 0
    /// Requests served by moving free buffers' pages together.
    public private(set) var merges = 0
    /// Whether requests take whole free buffers only (no splitting, no joining): set by
    /// `servingInference` while the pool has served nothing else.
    public private(set) var wholeBuffers = false
    /// Whether the pool ever served a training pass.
    private var trained = false

    public init() {}

    /// Called before each forward pass: a pool that has served only inference switches to
    /// whole buffers; once it serves training it splits and joins for good (training's
    /// many differently sized tensors need that to stay small, and its evaluations then
    /// reuse training's memory).
    public func serving(_ mode: Mode) {
        if mode == .training { trained = true }
        wholeBuffers = !trained
    }

    /// Bytes of every buffer the pool holds, free or handed out.
    public var bytes: Int { (free + lent.values).reduce(0) { $0 + $1.byteCount } }

    /// Bytes of the tensors handed out and not given back yet.
    var lentBytes: Int { lent.values.reduce(0) { $0 + $1.byteCount } }

    /// A tensor of this shape with unspecified contents.
    func take(_ shape: [Int], _ layout: Layout) -> Tensor {
        let need = PageBuffer.rounded(max(shape.reduce(1, *), 1) * MemoryLayout<Float>.stride)
        var buffer: PageBuffer
        if wholeBuffers {
            if let best = free.indices.filter({ free[$0].byteCount >= need }).min(by: { free[$0].byteCount < free[$1].byteCount }) {
                buffer = free.remove(at: best)
            } else {
                allocated += 1
                buffer = PageBuffer(byteCount: need)
            }
        } else if let best = free.indices.filter({ free[$0].byteCount >= need }).min(by: { free[$0].byteCount < free[$1].byteCount }) {
            buffer = free.remove(at: best)
            if let (head, rest) = buffer.split(at: need) {
                buffer = head
                free.append(rest)
            }
        } else {
            // Every free buffer is smaller than the request: move the largest first until
            // they hold it (or all of them), and map what is still missing.
            var parts: [PageBuffer] = [], have = 0
            for b in free.sorted(by: { $0.byteCount > $1.byteCount }) where have < need {
                parts.append(b)
                have += b.byteCount
            }
            free.removeAll { b in parts.contains { $0 === b } }
            if have < need { allocated += 1 }
            if !parts.isEmpty { merges += 1 }
            buffer = parts.isEmpty ? PageBuffer(byteCount: need) : PageBuffer.merge(parts, byteCount: need)
            if let (head, rest) = buffer.split(at: need) {
                buffer = head
                free.append(rest)
            }
        }
        lent[buffer.pointer] = buffer
        let data = buffer.pointer.bindMemory(to: Float.self, capacity: buffer.byteCount / MemoryLayout<Float>.stride)
        return Tensor(viewing: data, shape: shape, layout: layout, keeping: buffer)
    }

    /// Returns a tensor taken from this pool.
    func give(_ t: Tensor) {
        guard let buffer = lent.removeValue(forKey: UnsafeMutableRawPointer(t.data)) else {
            fatalError("TensorPool: \(t) was not taken from this pool or was given back twice")
        }
        free.append(buffer)
    }

    /// Unmaps every free buffer (for example after the batch size changed).
    public func clear() { free.removeAll() }
}
