// SavedActivation: one activation (N, H, W, C) that training keeps from forward until
// backward for two readers, the residual block (or the stem's max pooling) that produced
// it and the block that consumes it. In bf16 it is kept packed in half the memory between
// the forward passes and backward, and expanded back exactly, once, when first read.
import Tensors

final class SavedActivation {
    let shape: [Int]
    /// The float32 values (nil while packed or once released).
    private var full: Tensor?
    /// The bfloat16 values, `BF16Pack.slots` floats from the pool (nil unless packed or
    /// kept beside `full` by `roundKeepingPackedCopy`).
    private var packed: Tensor?
    /// Whether `full` was taken from the pool (and goes back to it) or is the caller's.
    private let fromPool: Bool

    /// An activation taken from `pool`: `release` gives it back.
    init(pooled t: Tensor) {
        shape = t.shape
        full = t
        fromPool = true
    }

    /// The caller's tensor, which it keeps alive until backward: never packed nor given back.
    init(borrowing t: Tensor) {
        shape = t.shape
        full = t
        fromPool = false
    }

    /// Whether only the packed copy is kept.
    var isPacked: Bool { packed != nil && full == nil }

    /// Rounds the values to bfloat16 in place and keeps their packed copy beside them, in
    /// one pass: the float32 tensor stays readable (the next block's forward reads it),
    /// and `pack` then only gives it back. Does nothing for a borrowed tensor.
    func roundKeepingPackedCopy(_ pool: TensorPool) {
        guard fromPool, packed == nil, let f = full else { return }
        let p = pool.take([BF16Pack.slots(f.count)], .x)
        BF16Pack.roundAndPack(f, into: p)
        packed = p
    }

    /// Keeps the values as bfloat16 in half the memory and gives the float32 tensor back
    /// (rounding them first unless `roundKeepingPackedCopy` already did). Does nothing for
    /// a borrowed tensor or one already packed.
    func pack(_ pool: TensorPool) {
        guard fromPool, let f = full else { return }
        if packed == nil {
            let p = pool.take([BF16Pack.slots(f.count)], .x)
            BF16Pack.roundAndPack(f, into: p)
            packed = p
        }
        pool.give(f)
        full = nil
    }

    /// The float32 values (N, H, W, C): expanded from the packed copy into a pool tensor
    /// on the first read after `pack` (the packed copy goes back to the pool), then the
    /// same tensor until `release`. Do not give it back; `release` does.
    func tensor(_ pool: TensorPool) -> Tensor {
        if let full { return full }
        guard let p = packed else { fatalError("SavedActivation \(shape): read after release") }
        let t = pool.take(shape, .nhwc)
        BF16Pack.expand(p, into: t)
        pool.give(p)
        packed = nil
        full = t
        return t
    }

    /// Gives back what the pool lent for this activation; later reads are errors, a second
    /// release does nothing.
    func release(_ pool: TensorPool) {
        if fromPool, let f = full { pool.give(f) }
        if let p = packed { pool.give(p) }
        full = nil
        packed = nil
    }
}
