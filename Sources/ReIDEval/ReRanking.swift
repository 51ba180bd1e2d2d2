// ReRanking: k-reciprocal re-ranking (Zhong et al. 2017; k1 = 20, k2 = 6, lambda = 0.3),
// following the authors' algorithm: squared distances normalized per row, k-reciprocal
// neighbor sets with their expansion, Gaussian-weighted sparse vectors, local query
// expansion over k2 neighbors, Jaccard distance through an inverted index, blended with
// the original distance. It never holds the (Q+G)^2 matrix: all-pairs distances are
// computed in row blocks, keeping each row's maximum and k1 + 1 nearest neighbors.
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
    /// Re-ranked query-gallery distances (Q, G).
    public static func rerank(query: Tensor, gallery: Tensor, metric: DistanceMetric,
                              options o: ReRankingOptions = ReRankingOptions()) -> DistanceMatrix {
        let (q, g, d) = (query.shape[0], gallery.shape[0], query.shape[1])
        let n = q + g
        let all = Tensor(shape: [n, d], layout: .nc)
        all.data.update(from: query.data, count: q * d)
        (all.data + q * d).update(from: gallery.data, count: g * d)
        // Neighbors kept per row: the k1 + 1 nearest, or k2 when query expansion reaches further.
        let k = min(n, max(o.k1 + 1, o.k2))
        var top = [Int32](repeating: 0, count: n * k)
        var rowMax = [Float](repeating: 0, count: n)
        var queryRows = [Float](repeating: 0, count: q * g)  // squared distances, normalized later

        // 1. Row blocks of all-pairs squared distances: maxima and nearest neighbors.
        let block = max(1, o.blockRows)
        var start = 0
        while start < n {
            let rows = min(block, n - start)
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
                                var best = [(Float, Int32)]()
                                best.reserveCapacity(k + 1)
                                var mx: Float = 0
                                for j in 0..<n {
                                    let s = squared(row[j], metric)
                                    if s > mx { mx = s }
                                    if best.count < k || s < best[best.count - 1].0 {
                                        var pos = best.count
                                        while pos > 0 && best[pos - 1].0 > s { pos -= 1 }
                                        best.insert((s, Int32(j)), at: pos)
                                        if best.count > k { best.removeLast() }
                                    }
                                }
                                maxPtr[i] = mx
                                for (c, b) in best.enumerated() { topPtr[i * k + c] = b.1 }
                                if i < q { for j in 0..<g { qrPtr[i * g + j] = squared(row[q + j], metric) } }
                            }
                        }
                    }
                }
            }
            start += rows
        }

        // Normalized squared distance between any two items (on demand).
        let dnorm = { (i: Int, j: Int) -> Float in
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
            return s / max(rowMax[i], 1e-12)
        }
        func neighbors(_ i: Int, _ count: Int) -> ArraySlice<Int32> { top[(i * k)..<(i * k + min(count, k))] }
        func reciprocal(_ i: Int, _ count: Int) -> [Int] {
            neighbors(i, count).map(Int.init).filter { f in neighbors(f, count).contains(Int32(i)) }
        }

        // 2. Sparse Gaussian-weighted k-reciprocal vectors V.
        let half = Int((Double(o.k1) / 2).rounded(.toNearestOrEven)) + 1  // as np.around
        var V = [[(Int, Float)]](repeating: [], count: n)
        V.withUnsafeMutableBufferPointer { vb in
            nonisolated(unsafe) let vptr = vb.baseAddress!
            parallelFor(n) { i in
                let base = reciprocal(i, o.k1 + 1)
                var expansion = Set(base)
                let baseSet = Set(base)
                for c in base {
                    let cand = reciprocal(c, half)
                    if Double(cand.filter { baseSet.contains($0) }.count) > 2.0 / 3.0 * Double(cand.count) {
                        expansion.formUnion(cand)
                    }
                }
                let idx = expansion.sorted()
                let w = idx.map { exp(-dnorm(i, $0)) }
                let total = w.reduce(0, +)
                vptr[i] = zip(idx, w).map { ($0, $1 / total) }
            }
        }

        // 3. Local query expansion: each vector the mean of its k2 nearest neighbors' vectors.
        if o.k2 > 1 {
            var expanded = [[(Int, Float)]](repeating: [], count: n)
            expanded.withUnsafeMutableBufferPointer { eb in
                nonisolated(unsafe) let eptr = eb.baseAddress!
                V.withUnsafeBufferPointer { vb in
                    nonisolated(unsafe) let vptr = vb.baseAddress!
                    parallelFor(n) { i in
                        var acc: [Int: Float] = [:]
                        let nb = neighbors(i, o.k2)
                        for m in nb { for (c, w) in vptr[Int(m)] { acc[c, default: 0] += w } }
                        eptr[i] = acc.keys.sorted().map { ($0, acc[$0]! / Float(nb.count)) }
                    }
                }
            }
            V = expanded
        }

        // 4. Jaccard distance from queries to gallery items through an inverted index.
        var inverted = [[(Int, Float)]](repeating: [], count: n)
        for j in q..<n { for (c, w) in V[j] { inverted[c].append((j - q, w)) } }
        var out = [Float](repeating: 0, count: q * g)
        let lambda = o.lambda
        out.withUnsafeMutableBufferPointer { ob in
            nonisolated(unsafe) let optr = ob.baseAddress!
            queryRows.withUnsafeBufferPointer { qb in
                nonisolated(unsafe) let qptr = qb.baseAddress!
                parallelFor(q) { i in
                    var shared = [Float](repeating: 0, count: g)
                    for (c, w) in V[i] { for (j, wj) in inverted[c] { shared[j] += min(w, wj) } }
                    let scale = 1 / max(rowMax[i], 1e-12)
                    for j in 0..<g {
                        let jaccard = 1 - shared[j] / (2 - shared[j])
                        optr[i * g + j] = jaccard * (1 - lambda) + qptr[i * g + j] * scale * lambda
                    }
                }
            }
        }
        return DistanceMatrix(rows: q, cols: g, values: out)
    }

    /// The authors' code squares its input distances: for Euclidean features that is the
    /// squared Euclidean distance (what DistanceMatrix holds already), for cosine the
    /// cosine distance squared.
    @inline(__always)
    static func squared(_ v: Float, _ metric: DistanceMetric) -> Float {
        metric == .euclidean ? max(v, 0) : v * v
    }
}
