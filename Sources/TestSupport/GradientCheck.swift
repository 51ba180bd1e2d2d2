// GradientCheck: central finite differences of a scalar function, compared with an
// analytic gradient at a sample of coordinates. Used to check every kernel's backward.
import Tensors
import XCTest

/// Central differences (f(x + h e_i) - f(x - h e_i)) / 2h at the given indices; the
/// function evaluates in float32 and returns its value in double.
public func numericalGradient(_ x: [Float], indices: [Int], step: Float, _ f: ([Float]) throws -> Double) rethrows
    -> [Double] {
    var probe = x
    return try indices.map { i in
        let original = probe[i]
        probe[i] = original + step
        let up = try f(probe)
        probe[i] = original - step
        let down = try f(probe)
        probe[i] = original
        return (up - down) / (2 * Double(step))
    }
}

/// Indices to probe: every index for small arrays, otherwise `count` spread evenly with a
/// seeded jitter so that each test probes different positions of each block.
public func sampleIndices(_ total: Int, count: Int = 24, seed: UInt64 = 7) -> [Int] {
    if total <= count { return Array(0..<total) }
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { k in min(total - 1, k * total / count + rng.int(max(1, total / count))) }
}

/// Checks `analytic` against finite differences of `f` at sampled coordinates of `x`:
/// |numeric - analytic| <= atol + rtol max(|numeric|, |analytic|).
public func checkGradient(_ name: String, at x: [Float], analytic: [Float], step: Float = 1e-2,
                          rtol: Double = 2e-2, atol: Double = 2e-3, samples: Int = 24,
                          file: StaticString = #filePath, line: UInt = #line, _ f: ([Float]) throws -> Double) rethrows {
    require(x.count == analytic.count, "checkGradient: \(x.count) inputs but \(analytic.count) gradients")
    let idx = sampleIndices(x.count, count: samples)
    let numeric = try numericalGradient(x, indices: idx, step: step, f)
    for (k, i) in idx.enumerated() {
        let a = Double(analytic[i]), n = numeric[k]
        if abs(a - n) > atol + rtol * max(abs(a), abs(n)) {
            XCTFail("\(name): gradient at [\(i)] is \(a), finite differences give \(n)", file: file, line: line)
            return
        }
    }
}

/// Σ x_i r_i in double: the scalar whose gradient with respect to an output is `r`,
/// used to turn a kernel's output into a loss for finite differences.
public func dot(_ x: [Float], _ r: [Float]) -> Double {
    require(x.count == r.count, "dot: \(x.count) vs \(r.count) values")
    var s = 0.0
    for i in 0..<x.count { s += Double(x[i]) * Double(r[i]) }
    return s
}
