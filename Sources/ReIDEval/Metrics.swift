// Metrics: CMC, mAP and mINP under the torchreid / fast-reid protocol: per query,
// gallery items with the same pid and the same camera are dropped; a query with no
// remaining positive is skipped; CMC is the cumulative match clipped to 1 up to max
// rank; AP is non-interpolated; mINP is (positives) / (rank of the last positive).
// Ranks are found by counting (QueryRanker) rather than by sorting whole rows; ties go
// to the lower gallery index, as a stable sort.
import Foundation
import Tensors

public struct ReIDMetrics: Codable, Sendable, Equatable {
    /// cmc[k] is the share of valid queries with a correct match within the first k + 1.
    public var cmc: [Double]
    public var mAP: Double
    public var mINP: Double
    public var numValidQueries: Int
    public var numQueries: Int
    /// The max rank actually used (clipped to the gallery size).
    public var maxRank: Int

    public func rank(_ k: Int) -> Double { k <= cmc.count ? cmc[k - 1] : (cmc.last ?? 0) }
}

public struct EvaluationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

public enum Metrics {
    /// Evaluates a distance matrix; throws when no query has a valid positive.
    public static func evaluate(_ dist: DistanceMatrix, queryPids: [Int], galleryPids: [Int], queryCams: [Int],
                                galleryCams: [Int], maxRank: Int = 50) throws -> ReIDMetrics {
        try check(dist, queryPids, galleryPids, queryCams, galleryCams)
        let stats = perQueryStats(dist, queryPids: queryPids, queryCams: queryCams,
                                  ranker: QueryRanker(galleryPids: galleryPids, galleryCams: galleryCams))
        return try summarize(stats, galleryCount: dist.cols, maxRank: maxRank)
    }

    /// Each query row's stats (nil for a skipped query), rows copied to a scratch row per thread.
    static func perQueryStats(_ dist: DistanceMatrix, queryPids: [Int], queryCams: [Int],
                              ranker: QueryRanker) -> [QueryRanker.Stats?] {
        let (q, g) = (dist.rows, dist.cols)
        var results = [QueryRanker.Stats?](repeating: nil, count: q)
        results.withUnsafeMutableBufferPointer { res in
            nonisolated(unsafe) let out = res.baseAddress!
            dist.values.withUnsafeBufferPointer { d in
                nonisolated(unsafe) let base = d.baseAddress!
                parallelRanges(q, grain: 1) { range in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(g, 1))
                    defer { scratch.deallocate() }
                    for i in range {
                        scratch.update(from: base + i * g, count: g)
                        out[i] = ranker.stats(row: scratch, pid: queryPids[i], cam: queryCams[i])
                    }
                }
            }
        }
        return results
    }

    /// CMC, mAP and mINP averaged over the valid queries of `stats` (one per query, nil
    /// when skipped); throws when there is none.
    static func summarize(_ stats: [QueryRanker.Stats?], galleryCount g: Int, maxRank: Int) throws -> ReIDMetrics {
        let q = stats.count
        let rankLimit = min(maxRank, g)
        let valid = stats.compactMap { $0 }
        guard !valid.isEmpty else {
            throw EvaluationError("no valid query: every query's positives were removed as same-pid same-camera "
                                  + "gallery items (or it has none); check that query and gallery camids differ for the "
                                  + "same person (\(q) queries, \(g) gallery items)")
        }
        var cmc = [Double](repeating: 0, count: rankLimit)
        for r in valid where r.firstRank <= rankLimit {
            for k in (r.firstRank - 1)..<rankLimit { cmc[k] += 1 }
        }
        let n = Double(valid.count)
        return ReIDMetrics(cmc: cmc.map { $0 / n }, mAP: valid.map(\.ap).reduce(0, +) / n,
                           mINP: valid.map(\.inp).reduce(0, +) / n, numValidQueries: valid.count, numQueries: q,
                           maxRank: rankLimit)
    }

    /// Whether gallery item `j` takes part in the ranking of a query of identity `pid` seen by
    /// camera `cam`: junk (pid -1) never does, nor the same identity seen by the same camera.
    @inline(__always)
    public static func isKept(_ j: Int, pid: Int, cam: Int, _ galleryPids: [Int], _ galleryCams: [Int]) -> Bool {
        galleryPids[j] != -1 && !(galleryPids[j] == pid && galleryCams[j] == cam)
    }

    static func check(_ dist: DistanceMatrix, _ qp: [Int], _ gp: [Int], _ qc: [Int], _ gc: [Int]) throws {
        guard dist.rows == qp.count, dist.rows == qc.count, dist.cols == gp.count, dist.cols == gc.count else {
            throw EvaluationError("distance matrix \(dist.rows) x \(dist.cols) does not fit \(qp.count) query and "
                                  + "\(gp.count) gallery labels")
        }
        guard dist.rows > 0 else { throw EvaluationError("the query set is empty") }
        guard dist.cols > 0 else { throw EvaluationError("the gallery set is empty") }
        if let bad = dist.values.firstIndex(where: { !$0.isFinite }) {
            throw EvaluationError("distance [\(bad / dist.cols), \(bad % dist.cols)] is \(dist.values[bad]); "
                                  + "features contain NaN or infinite values")
        }
    }

    /// CUHK03's single-gallery-shot protocol: CMC averaged over `repeats` draws of one
    /// gallery image per identity (seeded); AP and INP over the whole kept gallery.
    public static func evaluateCUHK03(_ dist: DistanceMatrix, queryPids: [Int], galleryPids: [Int], queryCams: [Int],
                                      galleryCams: [Int], maxRank: Int = 50, repeats: Int = 10,
                                      seed: UInt64 = 0) throws -> ReIDMetrics {
        var full = try evaluate(dist, queryPids: queryPids, galleryPids: galleryPids, queryCams: queryCams,
                                galleryCams: galleryCams, maxRank: maxRank)
        let (q, g) = (dist.rows, dist.cols)
        let rankLimit = full.maxRank
        var cmc = [Double](repeating: 0, count: rankLimit)
        var valid = 0
        var rng = SeededRandom(seed: seed)
        for i in 0..<q {
            let row = Array(dist.values[(i * g)..<((i + 1) * g)])
            let kept = (0..<g).filter { !(galleryPids[$0] == queryPids[i] && galleryCams[$0] == queryCams[i]) && galleryPids[$0] != -1 }
            guard kept.contains(where: { galleryPids[$0] == queryPids[i] }) else { continue }
            valid += 1
            var groups: [Int: [Int]] = [:]
            for j in kept { groups[galleryPids[j], default: []].append(j) }
            let pids = groups.keys.sorted()
            var hits = [Int](repeating: 0, count: rankLimit)
            for _ in 0..<repeats {
                let sample = pids.map { groups[$0]![rng.int(groups[$0]!.count)] }
                let positive = sample.first { galleryPids[$0] == queryPids[i] }!
                let rank = 1 + sample.filter { $0 != positive && (row[$0] < row[positive] || (row[$0] == row[positive] && $0 < positive)) }.count
                if rank <= rankLimit { for k in (rank - 1)..<rankLimit { hits[k] += 1 } }
            }
            for k in 0..<rankLimit { cmc[k] += Double(hits[k]) / Double(repeats) }
        }
        full.cmc = cmc.map { $0 / Double(valid) }
        return full
    }
}
