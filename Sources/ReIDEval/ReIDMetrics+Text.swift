// ReIDMetrics+Text: metrics as the command line prints them: a line of percentages and
// the valid-query count, one JSON object of fractions in [0, 1], or the one-line summary
// a training run logs.
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

    /// One line for the console: rank-1/5/10, mAP and mINP, marked when the data is synthetic.
    public func summary(_ prefix: String, synthetic: Bool) -> String {
        String(format: "%@%@: rank-1 %.1f%%  rank-5 %.1f%%  rank-10 %.1f%%  mAP %.1f%%  mINP %.1f%%  (%d valid queries)",
               prefix, synthetic ? " [synthetic data]" : "", 100 * rank(1), 100 * rank(5), 100 * rank(10),
               100 * mAP, 100 * mINP, numValidQueries)
    }
}
