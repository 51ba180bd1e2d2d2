// ClassificationMetrics: top-1 and top-5 accuracy (fractions in [0, 1]) of a
// classification evaluation from its counts, as the command line prints them: a line,
// one JSON object, or the one-line summary a training run logs.
import Foundation

public struct ClassificationMetrics: Codable, Equatable, Sendable {
    public let counts: TopKCounts

    /// Throws when nothing was evaluated.
    public init(counts: TopKCounts) throws {
        guard counts.images > 0 else { throw EvaluationError("no validation images were evaluated") }
        self.counts = counts
    }

    public var top1: Double { Double(counts.top1) / Double(counts.images) }
    public var top5: Double { Double(counts.top5) / Double(counts.images) }
    public var images: Int { counts.images }

    /// One or two lines: the synthetic-data label when it applies, top-1, top-5 and the image count.
    public func text(synthetic: Bool) -> String {
        (synthetic ? "synthetic data\n" : "")
            + String(format: "top-1 %6.2f%%  top-5 %6.2f%%  (%d images)", 100 * top1, 100 * top5, images)
    }

    /// One JSON object (sorted keys) with fractions in [0, 1].
    public func json(synthetic: Bool) throws -> String {
        var o: [String: Any] = ["top1": top1, "top5": top5, "images": images]
        if synthetic { o["synthetic"] = true }
        return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
    }

    /// One line for the console, marked when the data is synthetic.
    public func summary(_ prefix: String, synthetic: Bool) -> String {
        String(format: "%@%@: top-1 %.1f%%  top-5 %.1f%%  (%d images)", prefix, synthetic ? " [synthetic data]" : "",
               100 * top1, 100 * top5, images)
    }
}
