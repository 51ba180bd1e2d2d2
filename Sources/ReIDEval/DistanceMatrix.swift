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
        let qn = norms(query), terms = columnTerms(gallery, metric)
        out.withUnsafeMutableBufferPointer { o in
            GEMM.sgemm(transA: false, transB: true, m: q, n: g, k: d, alpha: productScale(metric),
                       a: query.data, lda: d, b: gallery.data, ldb: d, c: o.baseAddress!, ldc: g)
            nonisolated(unsafe) let base = o.baseAddress!
            terms.withUnsafeBufferPointer { t in
                nonisolated(unsafe) let t = t.baseAddress!
                parallelFor(q) { i in finish(row: base + i * g, count: g, rowTerm: rowTerm(qn[i], metric), columnTerms: t,
                                             metric: metric) }
            }
        }
        return DistanceMatrix(rows: q, cols: g, values: out)
    }

    /// The scale of the q.g products the GEMM forms: -2 (euclidean) or 1 (cosine).
    static func productScale(_ metric: DistanceMetric) -> Float { metric == .euclidean ? -2 : 1 }

    /// What a query row adds or divides by: |q|^2 (euclidean) or max(|q|, 1e-12) (cosine).
    static func rowTerm(_ norm: Float, _ metric: DistanceMetric) -> Float {
        metric == .euclidean ? norm * norm : max(norm, 1e-12)
    }

    /// Per gallery row g: (G, D) -> (G): |g|^2 (euclidean) or max(|g|, 1e-12) (cosine).
    static func columnTerms(_ gallery: Tensor, _ metric: DistanceMetric) -> [Float] {
        norms(gallery).map { rowTerm($0, metric) }
    }

    /// Turns one row of scaled products (productScale x q.g, G values) into distances in place:
    /// |q|^2 + |g|^2 - 2 q.g, or 1 - q.g / (|q| |g|).
    @inline(__always)
    static func finish(row: UnsafeMutablePointer<Float>, count g: Int, rowTerm a: Float, columnTerms t: UnsafePointer<Float>,
                       metric: DistanceMetric) {
        switch metric {
        case .euclidean: for j in 0..<g { row[j] += a + t[j] }
        case .cosine: for j in 0..<g { row[j] = 1 - row[j] / (a * t[j]) }
        }
    }

    /// The L2 norm of every row: (N, D) -> (N), rows split over the threads.
    static func norms(_ t: Tensor) -> [Float] {
        let (n, d) = (t.shape[0], t.shape[1])
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { o in
            nonisolated(unsafe) let o = o.baseAddress!
            parallelFor(n) { i in
                var s: Float = 0
                let r = t.data + i * d
                for k in 0..<d { s += r[k] * r[k] }
                o[i] = s.squareRoot()
            }
        }
        return out
    }

    /// Rows scaled to unit L2 norm (in place).
    public static func normalize(_ t: Tensor) {
        let (n, d) = (t.shape[0], t.shape[1])
        let ns = norms(t)
        parallelFor(n) { i in
            let s = 1 / max(ns[i], 1e-12)
            let r = t.data + i * d
            for k in 0..<d { r[k] *= s }
        }
    }
}
