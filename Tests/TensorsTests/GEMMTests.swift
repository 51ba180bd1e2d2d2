// sgemm in every transpose combination, and the linear layer forward and backward,
// against the reference and finite differences.
import Tensors
import TestSupport
import XCTest

final class GEMMTests: XCTestCase {
    func testSgemmAllTransposes() {
        var rng = SeededRandom(seed: 41)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 9, 33), (64, 65, 63)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = rng.array(m * k), b = rng.array(k * n)
                    var c = [Float](repeating: 0, count: m * n)
                    GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: transA ? m : k,
                               b: b, ldb: transB ? k : n, c: &c, ldc: n)
                    let r = ReferenceOps.matmul(a, b, m: m, n: n, k: k, transA: transA, transB: transB)
                    XCTAssertLessThanOrEqual(relativeError(c, r), 1e-5, "m\(m) n\(n) k\(k) tA \(transA) tB \(transB)")
                }
            }
        }
    }

    func testLinearForwardAndBackward() {
        var rng = SeededRandom(seed: 42)
        for (n, dIn, dOut, hasBias) in [(4, 7, 5, true), (1, 16, 3, false), (9, 33, 17, true)] {
            let x = rng.tensor([n, dIn], .nc), w = rng.tensor([dOut, dIn], .nc)
            let b = hasBias ? rng.tensor([dOut], .x) : nil
            let y = Tensor(shape: [n, dOut], layout: .nc)
            Linear.forward(x: x, weight: w, bias: b, y: y)
            let r = ReferenceOps.linear(x: x.toArray(), w: w.toArray(), b: b?.toArray(), n: n, dIn: dIn, dOut: dOut)
            XCTAssertLessThanOrEqual(relativeError(y.toArray(), r), 1e-5)

            let dy = rng.tensor([n, dOut], .nc)
            let dx = Tensor(shape: [n, dIn], layout: .nc)
            let dw = Tensor(shape: [dOut, dIn], layout: .nc)
            let db = hasBias ? Tensor(shape: [dOut], layout: .x) : nil
            Linear.backwardData(dy: dy, weight: w, dx: dx)
            Linear.backwardWeights(x: x, dy: dy, dWeight: dw, dBias: db)
            XCTAssertLessThanOrEqual(relativeError(dx.toArray(), ReferenceOps.matmul(dy.toArray(), w.toArray(), m: n,
                                                                                      n: dIn, k: dOut, transA: false,
                                                                                      transB: false)), 1e-5)
            XCTAssertLessThanOrEqual(relativeError(dw.toArray(), ReferenceOps.matmul(dy.toArray(), x.toArray(), m: dOut,
                                                                                      n: dIn, k: n, transA: true,
                                                                                      transB: false)), 1e-5)
            func loss(_ xs: [Float], _ ws: [Float], _ bs: [Float]?) -> Double {
                let out = Tensor(shape: [n, dOut], layout: .nc)
                Linear.forward(x: Tensor(shape: [n, dIn], layout: .nc, values: xs),
                               weight: Tensor(shape: [dOut, dIn], layout: .nc, values: ws),
                               bias: bs.map { Tensor(shape: [dOut], layout: .x, values: $0) }, y: out)
                return dot(out.toArray(), dy.toArray())
            }
            let (xs, ws, bs) = (x.toArray(), w.toArray(), b?.toArray())
            checkGradient("linear dx", at: xs, analytic: dx.toArray()) { loss($0, ws, bs) }
            checkGradient("linear dw", at: ws, analytic: dw.toArray()) { loss(xs, $0, bs) }
            if let db, let bs {
                checkGradient("linear db", at: bs, analytic: db.toArray()) { loss(xs, ws, $0) }
            }

            // Accumulation adds to what is there.
            let dw2 = dw.clone()
            Linear.backwardWeights(x: x, dy: dy, dWeight: dw2, dBias: nil, accumulate: true)
            assertClose(dw2, dw.toArray().map { $0 * 2 }, rtol: 1e-5)
        }
    }
}
