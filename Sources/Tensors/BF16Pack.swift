// BF16Pack: float32 values rounded to bfloat16 (to nearest, ties to even, as oneDNN
// converts) and packed two to a float slot, and expanded back exactly: how bf16 training
// keeps the activations saved for backward in half the memory.
import Foundation

public enum BF16Pack {
    /// Float slots that hold `count` bfloat16 values.
    public static func slots(_ count: Int) -> Int { (count + 1) / 2 }

    /// The bfloat16 bit pattern nearest a float32 bit pattern (ties to even; a NaN stays
    /// a NaN, made quiet; values beyond bfloat16's largest round to infinity).
    @inline(__always)
    public static func round(bits b: UInt32) -> UInt16 {
        if b & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: b >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (b &+ 0x7fff &+ ((b >> 16) & 1)) >> 16)
    }

    /// Rounds every value of x to bfloat16 in place (x then holds exactly what a bf16
    /// kernel would read).
    public static func round(_ x: Tensor) {
        let p = UnsafeMutableRawPointer(x.data).assumingMemoryBound(to: UInt32.self)
        parallelRanges(x.count) { r in
            for i in r { p[i] = UInt32(round(bits: p[i])) << 16 }
        }
    }

    /// Rounds every value of x to bfloat16 in place and writes their bit patterns to
    /// `packed` (at least `slots(x.count)` floats, any shape), in x's order.
    public static func roundAndPack(_ x: Tensor, into packed: Tensor) {
        require(packed.count >= slots(x.count), "BF16Pack.roundAndPack: \(packed.count) slots hold fewer than \(x.count) values")
        let p = UnsafeMutableRawPointer(x.data).assumingMemoryBound(to: UInt32.self)
        let q = UnsafeMutableRawPointer(packed.data).assumingMemoryBound(to: UInt16.self)
        parallelRanges(x.count) { r in
            for i in r {
                let h = round(bits: p[i])
                q[i] = h
                p[i] = UInt32(h) << 16
            }
        }
    }

    /// Writes the bfloat16 values `packed` holds (`roundAndPack`'s) into x as float32:
    /// x's count of them, exactly.
    public static func expand(_ packed: Tensor, into x: Tensor) {
        require(packed.count >= slots(x.count), "BF16Pack.expand: \(packed.count) slots hold fewer than \(x.count) values")
        let p = UnsafeMutableRawPointer(x.data).assumingMemoryBound(to: UInt32.self)
        let q = UnsafeMutableRawPointer(packed.data).assumingMemoryBound(to: UInt16.self)
        parallelRanges(x.count) { r in
            for i in r { p[i] = UInt32(q[i]) << 16 }
        }
    }
}
