// Assertions: `assertClose` for float arrays and tensors, and the relative error used by
// the kernel tests.
import Tensors
import XCTest

/// The largest absolute difference divided by the largest magnitude of the expected values.
public func relativeError(_ actual: [Float], _ expected: [Float]) -> Double {
    require(actual.count == expected.count, "relativeError: \(actual.count) vs \(expected.count) values")
    var diff = 0.0, scale = 0.0
    for (a, e) in zip(actual, expected) {
        diff = max(diff, abs(Double(a) - Double(e)))
        scale = max(scale, abs(Double(e)))
    }
    return diff / max(scale, 1e-30)
}

/// Fails unless every element satisfies |actual - expected| <= atol + rtol |expected|;
/// the message names the first offending index and how many differ.
public func assertClose(_ actual: [Float], _ expected: [Float], rtol: Double = 1e-4, atol: Double = 1e-6,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("assertClose: \(actual.count) values vs \(expected.count) expected. \(message())", file: file, line: line)
        return
    }
    var bad = 0
    var first: (Int, Float, Float)?
    for i in 0..<actual.count {
        let a = Double(actual[i]), e = Double(expected[i])
        if !(abs(a - e) <= atol + rtol * abs(e)) {
            bad += 1
            if first == nil { first = (i, actual[i], expected[i]) }
        }
    }
    if let (i, a, e) = first {
        XCTFail("assertClose: \(bad) of \(actual.count) values differ; first at [\(i)]: \(a) vs expected \(e) "
                + "(rtol \(rtol), atol \(atol), relative error \(relativeError(actual, expected))). \(message())",
                file: file, line: line)
    }
}

public func assertClose(_ actual: Tensor, _ expected: [Float], rtol: Double = 1e-4, atol: Double = 1e-6,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual.toArray(), expected, rtol: rtol, atol: atol, message(), file: file, line: line)
}

public func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-6,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "shapes differ. \(message())", file: file, line: line)
    assertClose(actual.toArray(), expected.toArray(), rtol: rtol, atol: atol, message(), file: file, line: line)
}
