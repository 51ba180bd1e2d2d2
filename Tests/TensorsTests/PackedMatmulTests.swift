// PackedMatmul: blocks of A rows against one B packed once equal the reference product
// (scaled), for shapes that do and do not fill the kernel's blocks.
import Tensors
import TestSupport
import XCTest

final class PackedMatmulTests: XCTestCase {
    func testBlocksAgainstOnePackedMatrixEqualTheReference() {
        var rng = SeededRandom(seed: 43)
        for (rows, n, k, alpha) in [(1, 1, 1, Float(1)), (5, 70, 33, -2), (17, 129, 64, 0.5)] {
            let b = rng.array(n * k)
            let product = PackedMatmul(b: b, n: n, k: k, rows: rows, alpha: alpha)
            XCTAssertFalse(product.implementation.isEmpty)
            for _ in 0..<2 {
                let a = rng.array(rows * k)
                var c = [Float](repeating: .nan, count: rows * n)
                product.multiply(a: a, into: &c)
                let r = ReferenceOps.matmul(a, b, m: rows, n: n, k: k, transA: false, transB: true).map { alpha * $0 }
                XCTAssertLessThanOrEqual(relativeError(c, r), 1e-5, "rows \(rows) n \(n) k \(k)")
            }
        }
    }
}
