// BF16Pack against the plain rounding reference: round to nearest with ties to even,
// NaN, infinities, overflow, signed zero, and subnormals flushed to zero of their sign
// (what oneDNN's native conversion does, and so what bf16 kernels read); packing then
// expanding gives exactly the rounded values, for odd counts too, and rounding in place
// agrees, on the native path where the CPU has one and on the plain loop.
@testable import Tensors
import TestSupport
import XCTest

final class BF16PackTests: XCTestCase {
    private let specials: [Float] = [
        0, -0.0, 1, -1, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
        Float(bitPattern: 0x0001_16c2), Float(bitPattern: 0x8001_16c2),  // subnormals, about 1e-40 and -1e-40
        // Exactly halfway between two bfloat16 values: ties go to the even one (down, up).
        Float(bitPattern: 0x3f80_8000), Float(bitPattern: 0x3f81_8000), Float(bitPattern: 0xbf81_8000),
        // Just above and below halfway.
        Float(bitPattern: 0x3f80_8001), Float(bitPattern: 0x3f80_7fff),
        // The largest finite bfloat16's upper neighbour rounds to infinity.
        Float(bitPattern: 0x7f7f_8000), Float(bitPattern: 0x7f7f_7fff),
    ]

    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return specials + (0..<max(0, count - specials.count)).map { i in
            Float(rng.normal()) * Float(pow(10.0, Double(i % 9) - 4))
        }
    }

    /// The reference rounding, with subnormals flushed to zero of their sign.
    private func reference(_ x: Float) -> Float {
        x.isSubnormal ? (x.sign == .minus ? -0.0 : 0) : BFloat16Rounding.round(x)
    }

    /// Fails naming the first element whose bits differ.
    private func assertSameBits(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        if let i = a.indices.first(where: { i in i < b.count && a[i].bitPattern != b[i].bitPattern }) {
            XCTFail("\(what): element \(i): \(a[i]) (\(String(a[i].bitPattern, radix: 16))) != \(b[i]) (\(String(b[i].bitPattern, radix: 16)))",
                    file: file, line: line)
        }
    }

    func testRoundingMatchesTheReference() {
        for x in values(5000, seed: 1) {
            let mine = Float(bitPattern: UInt32(BF16Pack.round(bits: x.bitPattern)) << 16)
            XCTAssertEqual(mine.bitPattern, reference(x).bitPattern, "\(x) (\(String(x.bitPattern, radix: 16)))")
        }
        XCTAssertEqual(BF16Pack.round(bits: Float(1e-40).bitPattern), 0)
        XCTAssertEqual(BF16Pack.round(bits: Float(-1e-40).bitPattern), 0x8000)
        XCTAssertEqual(Float(bitPattern: UInt32(BF16Pack.round(bits: 0x7f7f_8000)) << 16), .infinity)
        XCTAssertEqual(Float(bitPattern: UInt32(BF16Pack.round(bits: 0x3f80_8000)) << 16), 1)
        XCTAssertEqual(Float(bitPattern: UInt32(BF16Pack.round(bits: 0x3f81_8000)) << 16), Float(bitPattern: 0x3f82_0000))
        for nan in [Float.nan, -Float.nan, Float(bitPattern: 0x7f80_0001), Float(bitPattern: 0xff80_0001)] {
            // A signalling NaN whose payload sits in the low bits must not become infinity.
            XCTAssertTrue(Float(bitPattern: UInt32(BF16Pack.round(bits: nan.bitPattern)) << 16).isNaN, "\(nan.bitPattern)")
        }
    }

    /// The 16-lane rounding equals the scalar one on random bit patterns of every kind
    /// (normal, subnormal, zero, infinity, NaN, ties).
    func testLaneWiseRoundingEqualsTheScalarRounding() {
        var g = SystemRandomNumberGenerator()
        let special: [UInt32] = [0, 0x8000_0000, 0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0x7f80_0001, 0x0000_0001,
                                 0x807f_ffff, 0x3f80_8000, 0x3f81_8000, 0x7f7f_ffff, 0x0080_0000]
        for _ in 0..<2000 {
            var lanes = SIMD16<UInt32>()
            for i in 0..<16 { lanes[i] = Bool.random(using: &g) ? special.randomElement(using: &g)! : UInt32.random(in: 0...UInt32.max, using: &g) }
            let rounded = BF16Pack.round(bits: lanes)
            for i in 0..<16 { XCTAssertEqual(rounded[i], BF16Pack.round(bits: lanes[i]), String(lanes[i], radix: 16)) }
        }
    }

    func testPackThenExpandGivesTheRoundedValuesExactly() {
        // Odd counts (the last slot half used) and counts that span several threads' ranges.
        let paths = BF16Pack.usesNativeConversion ? [false, true] : [false]
        for native in paths {
            for count in [1, 7, 4097, 50_001] {
                let what = "count \(count), native \(native)"
                let xs = values(count, seed: UInt64(count)).filter { !$0.isNaN }
                let x = Tensor(shape: [xs.count], layout: .x, values: xs)
                let packed = Tensor(shape: [BF16Pack.slots(xs.count)], layout: .x)
                BF16Pack.roundAndPack(x, into: packed, native: native)
                let expected = xs.map(reference)
                assertSameBits(x.toArray(), expected, "rounded in place, \(what)")
                let back = Tensor(shape: [xs.count], layout: .x)
                back.fill(7)
                BF16Pack.expand(packed, into: back, native: native)
                assertSameBits(back.toArray(), expected, "expanded, \(what)")
                // The other path reads the same packed values.
                back.fill(7)
                BF16Pack.expand(packed, into: back, native: !native && BF16Pack.usesNativeConversion)
                assertSameBits(back.toArray(), expected, "expanded by the other path, \(what)")
                let again = Tensor(shape: [xs.count], layout: .x, values: xs)
                BF16Pack.round(again, native: native)
                assertSameBits(again.toArray(), expected, "round alone, \(what)")
                // Packing alone leaves x as it was and writes the same bit patterns.
                let original = Tensor(shape: [xs.count], layout: .x, values: xs)
                let alone = Tensor(shape: [BF16Pack.slots(xs.count)], layout: .x)
                BF16Pack.pack(original, into: alone, native: native)
                assertSameBits(original.toArray(), xs, "pack leaves x, \(what)")
                back.fill(7)
                BF16Pack.expand(alone, into: back, native: native)
                assertSameBits(back.toArray(), expected, "packed alone, \(what)")
            }
        }
    }
}
