// ReRanking: k-reciprocal re-ranking (Zhong et al. 2017; k1 = 20, k2 = 6, lambda = 0.3),
// following the authors' algorithm: squared distances normalized per row, k-reciprocal
// neighbor sets with their expansion, Gaussian-weighted sparse vectors, local query
// expansion over k2 neighbors, Jaccard distance through an inverted index, blended with
// the original distance. It never holds the (Q+G)^2 matrix: all-pairs distances are
// computed in row blocks, keeping each row's maximum and k1 + 1 (or k2) nearest neighbors.
import Foundation
import Tensors

public struct ReRankingOptions: Sendable {
    public var k1 = 20
    public var k2 = 6
    public var lambda: Float = 0.3
    public var blockRows = 512
    public init() {}
}

public enum ReRanking {
    /// A sparse vector over the Q + G items: (item, weight) pairs in item order.
    typealias SparseVector = [(Int, Float)]

    /// Re-ranked query-gallery distances: query (Q, D), gallery (G, D) -> (Q, G).
    public static func rerank(query: Tensor, gallery: Tensor, metric: DistanceMetric,
                              options o: ReRankingOptions = ReRankingOptions()) -> DistanceMatrix {
        let (q, g, d) = (query.shape[0], gallery.shape[0], query.shape[1])
        let n = q + g
        let all = Tensor(shape: [n, d], layout: .nc)
        all.data.update(from: query.data, count: q * d)
        (all.data + q * d).update(from: gallery.data, count: g * d)
        // Neighbors kept per row: the k1 + 1 nearest, or k2 when query expansion reaches further.
        let nearest = Neighborhoods(all, queries: q, keep: min(n, max(o.k1 + 1, o.k2)), metric: metric,
                                    blockRows: max(1, o.blockRows))
        var vectors = reciprocalVectors(all, nearest, metric: metric, k1: o.k1)
        if o.k2 > 1 { vectors = expanded(vectors, nearest, k2: o.k2) }
        return blended(vectors, nearest, queries: q, lambda: o.lambda)
    }

    /// Sparse Gaussian-weighted vectors over each item's k-reciprocal neighbors, with the
    /// candidates' own (k1 / 2)-reciprocal sets added where they overlap by more than 2/3.
    static func reciprocalVectors(_ all: Tensor, _ nearest: Neighborhoods, metric: DistanceMetric,
                                  k1: Int) -> [SparseVector] {
        let half = Int((Double(k1) / 2).rounded(.toNearestOrEven)) + 1  // as np.around
        var vectors = [SparseVector](repeating: [], count: nearest.count)
        vectors.withUnsafeMutableBufferPointer { vb in
            nonisolated(unsafe) let vptr = vb.baseAddress!
            parallelFor(nearest.count) { i in
                let base = nearest.reciprocal(i, k1 + 1)
                var expansion = Set(base)
                let baseSet = Set(base)
                for c in base {
                    let cand = nearest.reciprocal(c, half)
                    if Double(cand.filter { baseSet.contains($0) }.count) > 2.0 / 3.0 * Double(cand.count) {
                        expansion.formUnion(cand)
                    }
                }
                let idx = expansion.sorted()
                let w = idx.map { exp(-normalizedSquared(all, i, $0, metric: metric, rowMax: nearest.rowMax[i])) }
                let total = w.reduce(0, +)
                vptr[i] = zip(idx, w).map { ($0, $1 / total) }
            }
        }
        return vectors
    }

    /// Local query expansion: each vector becomes the mean of its k2 nearest neighbors' vectors.
    static func expanded(_ vectors: [SparseVector], _ nearest: Neighborhoods, k2: Int) -> [SparseVector] {
        var out = [SparseVector](repeating: [], count: vectors.count)
        out.withUnsafeMutableBufferPointer { eb in
            nonisolated(unsafe) let eptr = eb.baseAddress!
            vectors.withUnsafeBufferPointer { vb in
                nonisolated(unsafe) let vptr = vb.baseAddress!
                parallelFor(vectors.count) { i in
                    var acc: [Int: Float] = [:]
                    let nb = nearest.neighbors(i, k2)
                    for m in nb { for (c, w) in vptr[Int(m)] { acc[c, default: 0] += w } }
                    eptr[i] = acc.keys.sorted().map { ($0, acc[$0]! / Float(nb.count)) }
                }
            }
        }
        return out
    }

    /// Jaccard distance from queries to gallery items through an inverted index, blended
    /// with the normalized squared distance: (1 - lambda) jaccard + lambda distance -> (Q, G).
    static func blended(_ vectors: [SparseVector], _ nearest: Neighborhoods, queries q: Int,
                        lambda: Float) -> DistanceMatrix {
        let n = nearest.count, g = n - q
        var inverted = [[(Int, Float)]](repeating: [], count: n)
        for j in q..<n { for (c, w) in vectors[j] { inverted[c].append((j - q, w)) } }
        var out = [Float](repeating: 0, count: q * g)
        out.withUnsafeMutableBufferPointer { ob in
            nonisolated(unsafe) let optr = ob.baseAddress!
            nearest.queryRows.withUnsafeBufferPointer { qb in
                nonisolated(unsafe) let qptr = qb.baseAddress!
                parallelFor(q) { i in
                    var shared = [Float](repeating: 0, count: g)
                    for (c, w) in vectors[i] { for (j, wj) in inverted[c] { shared[j] += min(w, wj) } }
                    let scale = 1 / max(nearest.rowMax[i], 1e-12)
                    for j in 0..<g {
                        let jaccard = 1 - shared[j] / (2 - shared[j])
                        optr[i * g + j] = jaccard * (1 - lambda) + qptr[i * g + j] * scale * lambda
                    }
                }
            }
        }
        return DistanceMatrix(rows: q, cols: g, values: out)
    }

    /// The squared distance between items i and j of all: (N, D), divided by row i's maximum.
    static func normalizedSquared(_ all: Tensor, _ i: Int, _ j: Int, metric: DistanceMetric,
                                  rowMax: Float) -> Float {
        let d = all.shape[1]
        let a = all.data + i * d, b = all.data + j * d
        var s: Float
        switch metric {
        case .euclidean:
            s = 0
            for t in 0..<d { let x = a[t] - b[t]; s += x * x }
            s = max(s, 0)
        case .cosine:
            var dot: Float = 0, na: Float = 0, nb: Float = 0
            for t in 0..<d { dot += a[t] * b[t]; na += a[t] * a[t]; nb += b[t] * b[t] }
            let c = 1 - dot / max(na.squareRoot() * nb.squareRoot(), 1e-12)
            s = c * c
        }
        return s / max(rowMax, 1e-12)
    }

    /// The authors' code squares its input distances: for Euclidean features that is the
    /// squared Euclidean distance (what DistanceMatrix holds already), for cosine the
    /// cosine distance squared.
    @inline(__always)
    static func squared(_ v: Float, _ metric: DistanceMetric) -> Float {
        metric == .euclidean ? max(v, 0) : v * v
    }
}

extension ReRanking {
    /// Each item's nearest neighbors and largest squared distance over all Q + G items, and
    /// the queries' squared distances to the gallery, from all-pairs distances in row blocks.
    struct Neighborhoods {
        /// Items, Q + G.
        let count: Int
        /// Neighbors kept per item.
        let keep: Int
        /// (Q + G, keep) item indices, nearest first (ties: the lower index first).
        private(set) var top: [Int32]
        /// Each item's largest squared distance, which normalizes its row.
        private(set) var rowMax: [Float]
        /// (Q, G) squared query-gallery distances, not normalized.
        private(set) var queryRows: [Float]

        /// - Parameters: all: (Q + G, D), the queries first.
        init(_ all: Tensor, queries q: Int, keep: Int, metric: DistanceMetric, blockRows: Int) {
            let (n, d) = (all.shape[0], all.shape[1])
            let g = n - q
            count = n
            self.keep = keep
            top = [Int32](repeating: 0, count: n * keep)
            rowMax = [Float](repeating: 0, count: n)
            queryRows = [Float](repeating: 0, count: q * g)
            var start = 0
            while start < n {
                let rows = min(blockRows, n - start)
                let part = Tensor(viewing: all.data + start * d, shape: [rows, d], layout: .nc)
                let dm = DistanceMatrix.compute(query: part, gallery: all, metric: metric)
                dm.values.withUnsafeBufferPointer { v in
                    nonisolated(unsafe) let vals = v.baseAddress!
                    top.withUnsafeMutableBufferPointer { t in
                        nonisolated(unsafe) let topPtr = t.baseAddress!
                        rowMax.withUnsafeMutableBufferPointer { m in
                            nonisolated(unsafe) let maxPtr = m.baseAddress!
                            queryRows.withUnsafeMutableBufferPointer { qr in
                                nonisolated(unsafe) let qrPtr = qr.baseAddress!
                                parallelFor(rows) { r in
                                    let i = start + r
                                    let row = vals + r * n
                                    maxPtr[i] = Neighborhoods.scan(row, count: n, keep: keep, metric: metric,
                                                                   into: topPtr + i * keep)
                                    guard i < q else { return }
                                    for j in 0..<g { qrPtr[i * g + j] = ReRanking.squared(row[q + j], metric) }
                                }
                            }
                        }
                    }
                }
                start += rows
            }
        }

        /// Writes the `keep` nearest of one row's `count` distances to `nearest` (nearest first,
        /// ties to the lower index) and returns the row's largest squared distance.
        static func scan(_ row: UnsafePointer<Float>, count n: Int, keep k: Int, metric: DistanceMetric,
                         into nearest: UnsafeMutablePointer<Int32>) -> Float {
            var best = [(Float, Int32)]()
            best.reserveCapacity(k + 1)
            var mx: Float = 0
            for j in 0..<n {
                let s = ReRanking.squared(row[j], metric)
                if s > mx { mx = s }
                if best.count < k || s < best[best.count - 1].0 {
                    var pos = best.count
                    while pos > 0 && best[pos - 1].0 > s { pos -= 1 }
                    best.insert((s, Int32(j)), at: pos)
                    if best.count > k { best.removeLast() }
                }
            }
            for (c, b) in best.enumerated() { nearest[c] = b.1 }
            return mx
        }

        /// Item i's `count` nearest items (all kept ones when `count` exceeds `keep`).
        func neighbors(_ i: Int, _ count: Int) -> ArraySlice<Int32> { top[(i * keep)..<(i * keep + min(count, keep))] }

        /// The items among i's `count` nearest that have i among their `count` nearest.
        func reciprocal(_ i: Int, _ count: Int) -> [Int] {
            neighbors(i, count).map(Int.init).filter { f in neighbors(f, count).contains(Int32(i)) }
        }
    }
}
