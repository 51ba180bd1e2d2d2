// BF16Pack: float32 values rounded to bfloat16 (to nearest, ties to even, subnormals to
// zero, as oneDNN converts) and packed two to a float slot, and expanded back exactly: how bf16 training
// keeps the activations saved for backward in half the memory. Where the CPU converts
// natively (AVX512_BF16), oneDNN's reorders do it, with the very instruction its bf16
// kernels use on their inputs; elsewhere a plain loop with the same rounding.
import CDNNL
import Foundation

public enum BF16Pack {
    /// Float slots that hold `count` bfloat16 values.
    public static func slots(_ count: Int) -> Int { (count + 1) / 2 }

    /// The bfloat16 bit pattern nearest a float32 bit pattern (ties to even; a NaN stays
    /// a NaN, made quiet; values beyond bfloat16's largest round to infinity; subnormals
    /// become zero of their sign, as the native conversion instruction makes them).
    @inline(__always)
    public static func round(bits b: UInt32) -> UInt16 {
        if b & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: b >> 16) | 0x0040 }
        if b & 0x7f80_0000 == 0 { return UInt16(truncatingIfNeeded: b >> 16) & 0x8000 }
        return UInt16(truncatingIfNeeded: (b &+ 0x7fff &+ ((b >> 16) & 1)) >> 16)
    }

    /// `round(bits:)` on 16 float32 bit patterns at once, the same rule lane by lane.
    @inline(__always)
    public static func round(bits b: SIMD16<UInt32>) -> SIMD16<UInt16> {
        var out = (b &+ 0x7fff &+ ((b &>> 16) & 1)) &>> 16
        out.replace(with: (b &>> 16) & 0x8000, where: b & 0x7f80_0000 .== 0)
        out.replace(with: (b &>> 16) | 0x0040, where: b & 0x7fff_ffff .> 0x7f80_0000)
        return SIMD16<UInt16>(truncatingIfNeeded: out)
    }

    /// oneDNN's conversion of `count` plain values, f32 -> bf16 or back.
    static func conversion(_ count: Int, toBF16: Bool) -> ReorderPlan {
        DNNL.current.cached(PrimitiveKey(op: .bfloat16Conversion, params: [count, toBF16 ? 1 : 0])) {
            let f32 = memoryDesc([count], dnnl_a), bf16 = memoryDesc([count], dnnl_a, type: dnnl_bf16)
            return toBF16 ? ReorderPlan(from: f32, to: bf16) : ReorderPlan(from: bf16, to: f32)
        }
    }

    /// Whether oneDNN's reorders do the conversions (native bf16 conversion instructions).
    public static var usesNativeConversion: Bool { Precision.nativeBF16 }

    /// Rounds every value of x to bfloat16 in place (x then holds exactly what a bf16
    /// kernel would read).
    public static func round(_ x: Tensor) { round(x, native: usesNativeConversion) }

    static func round(_ x: Tensor, native: Bool) {
        if native {
            let scratch = DNNL.current.scratch(.activationA, slots(x.count) * 4)
            conversion(x.count, toBF16: true).run(UnsafeMutableRawPointer(x.data), scratch)
            conversion(x.count, toBF16: false).run(scratch, UnsafeMutableRawPointer(x.data))
            return
        }
        let p = UnsafeMutableRawPointer(x.data).assumingMemoryBound(to: UInt32.self)
        parallelRanges(x.count) { r in
            for i in r { p[i] = UInt32(round(bits: p[i])) << 16 }
        }
    }

    /// Rounds every value of x to bfloat16 in place and writes their bit patterns to
    /// `packed` (at least `slots(x.count)` floats, any shape), in x's order.
    public static func roundAndPack(_ x: Tensor, into packed: Tensor) {
        roundAndPack(x, into: packed, native: usesNativeConversion)
    }

    static func roundAndPack(_ x: Tensor, into packed: Tensor, native: Bool) {
        require(packed.count >= slots(x.count), "BF16Pack.roundAndPack: \(packed.count) slots hold fewer than \(x.count) values")
        if native {
            conversion(x.count, toBF16: true).run(UnsafeMutableRawPointer(x.data), UnsafeMutableRawPointer(packed.data))
            conversion(x.count, toBF16: false).run(UnsafeMutableRawPointer(packed.data), UnsafeMutableRawPointer(x.data))
            return
        }
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

    /// Writes x's values rounded to bfloat16 to `packed` (at least `slots(x.count)`
    /// floats, any shape), in x's order; x is left as it was.
    public static func pack(_ x: Tensor, into packed: Tensor) { pack(x, into: packed, native: usesNativeConversion) }

    static func pack(_ x: Tensor, into packed: Tensor, native: Bool) {
        convert(x, packed, toBF16: true, native: native, "BF16Pack.pack")
    }

    /// Writes the bfloat16 values `packed` holds (`roundAndPack`'s) into x as float32:
    /// x's count of them, exactly.
    public static func expand(_ packed: Tensor, into x: Tensor) { expand(packed, into: x, native: usesNativeConversion) }

    static func expand(_ packed: Tensor, into x: Tensor, native: Bool) {
        convert(x, packed, toBF16: false, native: native, "BF16Pack.expand")
    }

    /// x's float32 values to `packed`'s bfloat16 ones (rounded), or back.
    private static func convert(_ x: Tensor, _ packed: Tensor, toBF16: Bool, native: Bool, _ what: String) {
        require(packed.count >= slots(x.count), "\(what): \(packed.count) slots hold fewer than \(x.count) values")
        let f32 = UnsafeMutableRawPointer(x.data), bf16 = UnsafeMutableRawPointer(packed.data)
        if native {
            conversion(x.count, toBF16: toBF16).run(toBF16 ? f32 : bf16, toBF16 ? bf16 : f32)
            return
        }
        let p = f32.assumingMemoryBound(to: UInt32.self), q = bf16.assumingMemoryBound(to: UInt16.self)
        parallelRanges(x.count) { r in
            if toBF16 {
                for i in r { q[i] = round(bits: p[i]) }
            } else {
                for i in r { p[i] = UInt32(q[i]) << 16 }
            }
        }
    }
}
