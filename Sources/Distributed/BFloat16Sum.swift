// BFloat16Sum: the element operation of a bfloat16 allreduce (gradients sent in half the
// bytes): two bfloat16 values (bit patterns) added in float32 and the sum rounded back to
// bfloat16 the way BF16Pack rounds (nearest, ties to even; subnormals to zero; a NaN stays
// a NaN). The in-process world (in rank order) and the MPI reduction (in the order of Open
// MPI's algorithm, the same result on every rank) both combine with it; with more than two
// ranks the two orders may round differently in the last bit.
import Tensors

public enum BFloat16Sum {
    /// The float32 value of a bfloat16 bit pattern (exact).
    @inline(__always)
    public static func value(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// a + b, formed in float32 and rounded to bfloat16.
    @inline(__always)
    public static func add(_ a: UInt16, _ b: UInt16) -> UInt16 { BF16Pack.round(bits: (value(a) + value(b)).bitPattern) }

    /// into[i] = in[i] + into[i] for `count` values (MPI's order of a reduction's operands),
    /// 16 at a time (BF16Pack's lane-wise rounding), the rest one by one.
    public static func add(_ values: UnsafePointer<UInt16>, into sums: UnsafeMutablePointer<UInt16>, count: Int) {
        let a = UnsafeRawPointer(values), b = UnsafeMutableRawPointer(sums)
        var i = 0
        while i + 16 <= count {
            let x = SIMD16<UInt32>(truncatingIfNeeded: a.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)) &<< 16
            let y = SIMD16<UInt32>(truncatingIfNeeded: b.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)) &<< 16
            let sum = unsafeBitCast(unsafeBitCast(x, to: SIMD16<Float>.self) + unsafeBitCast(y, to: SIMD16<Float>.self),
                                    to: SIMD16<UInt32>.self)
            b.storeBytes(of: BF16Pack.round(bits: sum), toByteOffset: 2 * i, as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < count {
            sums[i] = add(values[i], sums[i])
            i += 1
        }
    }
}
