// ReIDMetrics+Text: metrics as the command line prints them: a line of percentages and
// the valid-query count, or one JSON object of fractions in [0, 1].
import Foundation

extension ReIDMetrics {
    /// Two or three lines: the synthetic-data label when it applies, CMC ranks, mAP, mINP
    /// and the valid queries.
    public func text(synthetic: Bool) -> String {
        var lines: [String] = synthetic ? ["SynthReID (synthetic data)"] : []
        lines.append(String(format: "rank-1 %6.2f%%  rank-5 %6.2f%%  rank-10 %6.2f%%  rank-20 %6.2f%%  mAP %6.2f%%  mINP %6.2f%%",
                            100 * rank(1), 100 * rank(5), 100 * rank(10), 100 * rank(20), 100 * mAP, 100 * mINP))
        lines.append("valid queries: \(numValidQueries) of \(numQueries)"
                     + (maxRank < 50 ? " (CMC clipped to the gallery size, \(maxRank))" : ""))
        return lines.joined(separator: "\n")
    }

    /// One JSON object (sorted keys) with fractions in [0, 1].
    public func json(synthetic: Bool) throws -> String {
        var o: [String: Any] = ["rank1": rank(1), "rank5": rank(5), "rank10": rank(10), "rank20": rank(20),
                                "mAP": mAP, "mINP": mINP, "num_valid_queries": numValidQueries,
                                "num_queries": numQueries, "max_rank": maxRank]
        if synthetic { o["synthetic"] = true }
        return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
    }
}
