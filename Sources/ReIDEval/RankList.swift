// RankList: what one query retrieves under the evaluation protocol — its nearest kept
// gallery items (junk and same-pid same-camera items excluded by Metrics.isKept, ties to
// the lower gallery index) with distances and hit flags, and the query's AP and first
// correct rank from the same per-query computation the metrics average.
import Foundation
import Tensors

public struct RankList: Sendable, Equatable {
    public struct Match: Sendable, Equatable {
        /// Row of the gallery features.
        public var gallery: Int
        public var distance: Float
        /// Same identity as the query (a green frame).
        public var positive: Bool
    }

    /// Row of the query features.
    public var query: Int
    public var pid: Int
    public var camid: Int
    /// The first k kept gallery items, nearest first.
    public var matches: [Match]
    /// Average precision and the 1-based rank of the first positive; nil when no positive
    /// remains (the evaluation skips such a query).
    public var ap: Double?
    public var firstRank: Int?

    /// The first match is the same person.
    public var rank1: Bool { firstRank == 1 }
}

extension Metrics {
    /// The rank list of query row `i` of `dist` (Q, G): its `topk` nearest kept gallery items,
    /// with AP and first-positive rank as `evaluate` computes them.
    public static func rankList(_ dist: DistanceMatrix, query i: Int, queryPids: [Int], galleryPids: [Int],
                                queryCams: [Int], galleryCams: [Int], topk: Int) -> RankList {
        precondition(i >= 0 && i < dist.rows, "Metrics.rankList: query \(i) of \(dist.rows)")
        let g = dist.cols, pid = queryPids[i], cam = queryCams[i]
        return dist.values.withUnsafeBufferPointer { d in
            let row = d.baseAddress! + i * g
            let kept = (0..<g).filter { isKept($0, pid: pid, cam: cam, galleryPids, galleryCams) }
            let order = kept.sorted { row[$0] < row[$1] || (row[$0] == row[$1] && $0 < $1) }
            let matches = order.prefix(max(0, topk)).map {
                RankList.Match(gallery: $0, distance: row[$0], positive: galleryPids[$0] == pid)
            }
            var copy = Array(UnsafeBufferPointer(start: row, count: g))
            let stats = copy.withUnsafeMutableBufferPointer {
                QueryRanker(galleryPids: galleryPids, galleryCams: galleryCams).stats(row: $0.baseAddress!, pid: pid, cam: cam)
            }
            return RankList(query: i, pid: pid, camid: cam, matches: matches, ap: stats?.ap, firstRank: stats?.firstRank)
        }
    }
}

extension Metrics {
    /// Per query row of `dist` (Q, G): the 1-based rank of its first positive and its AP, or
    /// nil when the evaluation skips it (no positive left) — the values `evaluate` averages.
    public static func perQuery(_ dist: DistanceMatrix, queryPids: [Int], galleryPids: [Int], queryCams: [Int],
                                galleryCams: [Int]) -> [(firstRank: Int, ap: Double)?] {
        perQueryStats(dist, queryPids: queryPids, queryCams: queryCams,
                      ranker: QueryRanker(galleryPids: galleryPids, galleryCams: galleryCams))
            .map { $0.map { ($0.firstRank, $0.ap) } }
    }
}
