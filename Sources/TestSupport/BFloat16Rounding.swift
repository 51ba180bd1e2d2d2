// BFloat16Rounding: what converting a float to bfloat16 does to it (round to nearest,
// ties to even, on the upper 16 bits), and the error bound a bf16 product sum should
// meet, for tests of the bf16 kernels against the fp32 reference.
import Tensors
import XCTest

public enum BFloat16Rounding {
    /// x rounded to the nearest bfloat16 (ties to even), as a float; NaN stays NaN.
    public static func round(_ x: Float) -> Float {
        if x.isNaN { return x }
        let bits = x.bitPattern
        let lsb = (bits >> 16) & 1
        return Float(bitPattern: (bits &+ 0x7FFF &+ lsb) & 0xFFFF_0000)
    }

    public static func round(_ xs: [Float]) -> [Float] { xs.map { round($0) } }

    /// A tensor's values rounded to bfloat16, same shape and layout.
    public static func rounded(_ t: Tensor) -> Tensor {
        Tensor(shape: t.shape, layout: t.layout, values: round(t.toArray()))
    }

    /// The absolute error allowed for a sum of `terms` products whose factors were each
    /// rounded to bf16, every product at most `magnitude` in size. bf16 keeps 8
    /// significant bits, so one rounding is off by at most 2^-9 relative and a product of
    /// two rounded factors by at most about 2^-8. The per-term errors have mean zero and
    /// are independent, so their sum grows like sqrt(terms) (a random walk), not like
    /// terms; 4 standard deviations of that walk (each term's error is at most
    /// 2^-8 magnitude, so its standard deviation is smaller) leave room for chance
    /// without admitting fp32-sized mistakes like a wrong element or a missing term.
    public static func sumTolerance(terms: Int, magnitude: Double) -> Double {
        4 * Double(terms).squareRoot() * 0x1p-8 * magnitude
    }
}

/// Fails unless every |actual - expected| <= tolerance; names the first offender.
public func assertWithin(_ actual: [Float], _ expected: [Float], tolerance: Double, _ message: @autoclosure () -> String = "",
                         file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual, expected, rtol: 0, atol: tolerance, message(), file: file, line: line)
}

/// The largest absolute difference of two equally long arrays.
public func maxDifference(_ a: [Float], _ b: [Float]) -> Double {
    require(a.count == b.count, "maxDifference: \(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
}
