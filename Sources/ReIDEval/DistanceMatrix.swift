// DistanceMatrix: query-gallery distances through one GEMM: squared Euclidean
// (|q|^2 + |g|^2 - 2 q.g, as torchreid computes it) or cosine (1 - q.g / |q||g|).
// q: (Q, D), g: (G, D) -> (Q, G), row-major floats.
import Foundation
import Tensors

public enum DistanceMetric: String, Codable, Sendable, CaseIterable {
    case euclidean
    case cosine
}

public struct DistanceMatrix: Sendable {
    public let rows: Int
    public let cols: Int
    /// rows x cols, row-major.
    public var values: [Float]

    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "DistanceMatrix: \(values.count) values for \(rows) x \(cols)")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// Distances between every query and gallery feature.
    public static func compute(query: Tensor, gallery: Tensor, metric: DistanceMetric) -> DistanceMatrix {
        precondition(query.shape.count == 2 && gallery.shape.count == 2 && query.shape[1] == gallery.shape[1],
                     "DistanceMatrix: features \(query.shape) and \(gallery.shape) differ in size")
        let (q, g, d) = (query.shape[0], gallery.shape[0], query.shape[1])
        var out = [Float](repeating: 0, count: q * g)
        let qn = norms(query), gn = norms(gallery)
        out.withUnsafeMutableBufferPointer { o in
            GEMM.sgemm(transA: false, transB: true, m: q, n: g, k: d, alpha: metric == .euclidean ? -2 : 1,
                       a: query.data, lda: d, b: gallery.data, ldb: d, c: o.baseAddress!, ldc: g)
            let base = o.baseAddress!
            parallelFor(q) { i in
                let row = base + i * g
                switch metric {
                case .euclidean:
                    let a = qn[i] * qn[i]
                    for j in 0..<g { row[j] += a + gn[j] * gn[j] }
                case .cosine:
                    let a = max(qn[i], 1e-12)
                    for j in 0..<g { row[j] = 1 - row[j] / (a * max(gn[j], 1e-12)) }
                }
            }
        }
        return DistanceMatrix(rows: q, cols: g, values: out)
    }

    /// The L2 norm of every row.
    static func norms(_ t: Tensor) -> [Float] {
        let (n, d) = (t.shape[0], t.shape[1])
        return (0..<n).map { i in
            var s: Float = 0
            let r = t.data + i * d
            for k in 0..<d { s += r[k] * r[k] }
            return s.squareRoot()
        }
    }

    /// Rows scaled to unit L2 norm (in place).
    public static func normalize(_ t: Tensor) {
        let (n, d) = (t.shape[0], t.shape[1])
        let ns = norms(t)
        for i in 0..<n {
            let s = 1 / max(ns[i], 1e-12)
            let r = t.data + i * d
            for k in 0..<d { r[k] *= s }
        }
    }
}
