// RankComparison: how a second model's retrieval differs from a first's, query by query:
// which queries got better, worse or stayed the same at rank-1, and the queries ordered
// so that those whose rank-1 changed come first, then the largest AP changes.
import Foundation
import ReIDEval

public struct RankComparison: Sendable, Equatable {
    /// Per query: AP and whether rank-1 is correct, under model A and model B (nil for a
    /// query the evaluation skips: no positive left in the gallery).
    public struct Query: Sendable, Equatable {
        public var index: Int
        public var apA, apB: Double
        public var rank1A, rank1B: Bool
        public init(index: Int, apA: Double, apB: Double, rank1A: Bool, rank1B: Bool) {
            self.index = index; self.apA = apA; self.apB = apB; self.rank1A = rank1A; self.rank1B = rank1B
        }
    }

    /// The valid queries, ordered by change (see `ordered`).
    public var queries: [Query]
    /// Rank-1 correct under B but not A (better), under A but not B (worse), otherwise unchanged.
    public var better, worse, unchanged: Int

    /// Compares per-query results (same query order, same labels, so the same queries are valid).
    public init(a: [(firstRank: Int, ap: Double)?], b: [(firstRank: Int, ap: Double)?]) {
        precondition(a.count == b.count, "RankComparison: \(a.count) and \(b.count) queries")
        let qs = zip(a, b).enumerated().compactMap { i, pair -> Query? in
            guard let x = pair.0, let y = pair.1 else { return nil }
            return Query(index: i, apA: x.ap, apB: y.ap, rank1A: x.firstRank == 1, rank1B: y.firstRank == 1)
        }
        queries = Self.ordered(qs)
        better = qs.filter { !$0.rank1A && $0.rank1B }.count
        worse = qs.filter { $0.rank1A && !$0.rank1B }.count
        unchanged = qs.count - better - worse
    }

    /// Queries whose rank-1 changed first, then by the size of the AP change, then by index.
    public static func ordered(_ qs: [Query]) -> [Query] {
        qs.sorted { x, y in
            let cx = x.rank1A != x.rank1B, cy = y.rank1A != y.rank1B
            if cx != cy { return cx }
            let dx = abs(x.apB - x.apA), dy = abs(y.apB - y.apA)
            if dx != dy { return dx > dy }
            return x.index < y.index
        }
    }

    /// "rank-1 of B against A: 3 queries better, 5 worse, 92 unchanged (of 100); mAP 40.1% -> 38.2%".
    public func summary(a: String, b: String) -> String {
        let n = Double(max(1, queries.count))
        let mapA = queries.map(\.apA).reduce(0, +) / n, mapB = queries.map(\.apB).reduce(0, +) / n
        return "rank-1 of \(b) against \(a): \(better) queries better, \(worse) worse, \(unchanged) unchanged "
            + "(of \(queries.count) valid queries); mAP " + String(format: "%.1f%% -> %.1f%%", 100 * mapA, 100 * mapB)
    }
}
