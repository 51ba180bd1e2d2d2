// Metrics+Features: CMC, mAP and mINP straight from query and gallery features, distances
// formed one block of query rows at a time (one oneDNN matmul per block against the gallery
// packed once) and each block ranked while still in cache: no (Q, G) matrix is allocated.
// Ranking is Metrics.evaluate's; the products may differ from DistanceMatrix.compute's
// (dnnl_sgemm) in the last bits, as any two GEMMs summing in another order do.
import Foundation
import Tensors

extension Metrics {
    /// Most query rows per distance block: 256 x 15,913 floats (16 MB) for a Market-sized gallery.
    static let blockRows = 256

    /// Metrics of query: (Q, D) against gallery: (G, D) features; throws when a distance is
    /// not finite or no query has a valid positive. `timings`, when given, receives the
    /// seconds spent in the GEMM (distances) and in turning products into distances and
    /// ranking them (ranking); norms and packing the gallery count as distances.
    public static func evaluate(query: Tensor, gallery: Tensor, metric: DistanceMetric, queryPids: [Int],
                                galleryPids: [Int], queryCams: [Int], galleryCams: [Int], maxRank: Int = 50,
                                timings: Evaluation.Timings? = nil) throws -> ReIDMetrics {
        precondition(query.shape.count == 2 && gallery.shape.count == 2 && query.shape[1] == gallery.shape[1],
                     "Metrics.evaluate: features \(query.shape) and \(gallery.shape) differ in size")
        let (q, g, d) = (query.shape[0], gallery.shape[0], query.shape[1])
        guard q == queryPids.count, q == queryCams.count, g == galleryPids.count, g == galleryCams.count else {
            throw EvaluationError("features \(q) x \(g) do not fit \(queryPids.count) query and \(galleryPids.count) "
                                  + "gallery labels")
        }
        guard q > 0 else { throw EvaluationError("the query set is empty") }
        guard g > 0 else { throw EvaluationError("the gallery set is empty") }
        guard d > 0 else { throw EvaluationError("the features have no dimensions (shape \(query.shape))") }
        let start = DispatchTime.now().uptimeNanoseconds
        let ranker = QueryRanker(galleryPids: galleryPids, galleryCams: galleryCams)
        let qn = DistanceMatrix.norms(query), terms = DistanceMatrix.columnTerms(gallery, metric)
        // Equal blocks of at most blockRows rows; the last one's missing rows are zero padding.
        let blocks = (q + blockRows - 1) / blockRows, rows = (q + blocks - 1) / blocks
        let product = PackedMatmul(b: gallery.data, n: g, k: d, rows: rows, alpha: DistanceMatrix.productScale(metric))
        let block = UnsafeMutablePointer<Float>.allocate(capacity: rows * g)
        defer { block.deallocate() }
        var stats = [QueryRanker.Stats?](repeating: nil, count: q)
        // Per row of a block: the first non-finite distance's column, or -1.
        var badColumn = [Int](repeating: -1, count: rows)
        var gemmNanos = DispatchTime.now().uptimeNanoseconds - start
        for first in stride(from: 0, to: q, by: rows) {
            let m = min(rows, q - first)
            let t0 = DispatchTime.now().uptimeNanoseconds
            if m == rows {
                product.multiply(a: query.data + first * d, into: block)
            } else {
                let padded = Tensor(shape: [rows, d], layout: .nc)
                padded.data.update(from: query.data + first * d, count: m * d)
                product.multiply(a: padded.data, into: block)
            }
            gemmNanos += DispatchTime.now().uptimeNanoseconds - t0
            stats.withUnsafeMutableBufferPointer { st in
                badColumn.withUnsafeMutableBufferPointer { bad in
                    terms.withUnsafeBufferPointer { t in
                        nonisolated(unsafe) let (st, bad, t, block) = (st.baseAddress!, bad.baseAddress!, t.baseAddress!, block)
                        parallelRanges(m, grain: 1) { range in
                            for r in range {
                                let i = first + r, row = block + r * g
                                DistanceMatrix.finish(row: row, count: g, rowTerm: DistanceMatrix.rowTerm(qn[i], metric),
                                                      columnTerms: t, metric: metric)
                                bad[r] = firstNonFinite(row, g)
                                if bad[r] < 0 { st[i] = ranker.stats(row: row, pid: queryPids[i], cam: queryCams[i]) }
                            }
                        }
                    }
                }
            }
            if let r = badColumn.prefix(m).firstIndex(where: { $0 >= 0 }) {
                let c = badColumn[r]
                throw EvaluationError("distance [\(first + r), \(c)] is \(block[r * g + c]); features contain NaN or "
                                      + "infinite values")
            }
        }
        if let timings {
            timings.distances += Double(gemmNanos) / 1e9
            timings.ranking += Double(DispatchTime.now().uptimeNanoseconds - start - gemmNanos) / 1e9
        }
        return try summarize(stats, galleryCount: g, maxRank: maxRank)
    }

    /// The index of the first NaN or infinite value of `row` (n values), or -1. A first pass
    /// keeps the largest exponent field (all bits set only for NaN and infinity) and vectorizes.
    static func firstNonFinite(_ row: UnsafePointer<Float>, _ n: Int) -> Int {
        let raw = UnsafeRawPointer(row), mask = SIMD16<UInt32>(repeating: 0x7f80_0000)
        var lanes = SIMD16<UInt32>()
        var j = 0
        while j + 16 <= n {
            lanes = pointwiseMax(lanes, raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<UInt32>.self) & mask)
            j += 16
        }
        var exponent = lanes.max()
        while j < n {
            exponent = max(exponent, raw.loadUnaligned(fromByteOffset: 4 * j, as: UInt32.self) & 0x7f80_0000)
            j += 1
        }
        guard exponent == 0x7f80_0000 else { return -1 }
        return (0..<n).first { !row[$0].isFinite } ?? -1
    }
}
