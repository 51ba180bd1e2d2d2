// Evaluation: metrics of query against gallery features under the torchreid protocol
// (distances, optional k-reciprocal re-ranking, CMC/mAP/mINP or CUHK03's single-shot CMC).
import Foundation

public enum Evaluation {
    /// Where an evaluation's time went, in seconds: reading feature files (and normalizing),
    /// the distance GEMM, and turning products into distances and ranking them (re-ranking
    /// and CUHK03's protocol count as ranking).
    public final class Timings: @unchecked Sendable {
        public var load = 0.0
        public var distances = 0.0
        public var ranking = 0.0
        public init() {}
    }

    /// Metrics of query against gallery features under the configured protocol.
    public static func evaluate(query: ExtractedFeatures, gallery: ExtractedFeatures, metric: DistanceMetric,
                                rerank: Bool, cuhk03: Bool, maxRank: Int = 50, timings: Timings? = nil) throws -> ReIDMetrics {
        guard query.features.shape[1] == gallery.features.shape[1] else {
            throw EvaluationError("query features have \(query.features.shape[1]) dimensions but gallery features "
                                  + "\(gallery.features.shape[1])")
        }
        guard query.features.shape[0] > 0 else { throw EvaluationError("the query set is empty") }
        guard gallery.features.shape[0] > 0 else { throw EvaluationError("the gallery set is empty") }
        guard query.features.shape[1] > 0 else {
            throw EvaluationError("the features have no dimensions (shape \(query.features.shape))")
        }
        guard maxRank >= 1 else { throw EvaluationError("max rank must be at least 1, got \(maxRank)") }
        if !rerank && !cuhk03 {
            return try Metrics.evaluate(query: query.features, gallery: gallery.features, metric: metric,
                                        queryPids: query.pids, galleryPids: gallery.pids, queryCams: query.camids,
                                        galleryCams: gallery.camids, maxRank: maxRank, timings: timings)
        }
        let start = Date()
        defer { timings?.ranking += Date().timeIntervalSince(start) }
        let dist = rerank
            ? ReRanking.rerank(query: query.features, gallery: gallery.features, metric: metric)
            : DistanceMatrix.compute(query: query.features, gallery: gallery.features, metric: metric)
        if cuhk03 {
            return try Metrics.evaluateCUHK03(dist, queryPids: query.pids, galleryPids: gallery.pids,
                                              queryCams: query.camids, galleryCams: gallery.camids, maxRank: maxRank)
        }
        return try Metrics.evaluate(dist, queryPids: query.pids, galleryPids: gallery.pids, queryCams: query.camids,
                                    galleryCams: gallery.camids, maxRank: maxRank)
    }
}

extension Evaluation {
    /// Metrics of two feature files (`reidprune evaluate`); `metric` is euclidean or cosine;
    /// `synthetic` when either file holds features of synthetic data.
    public static func evaluate(queryFile: String, galleryFile: String, metric: String, normalize: Bool, rerank: Bool,
                                cuhk03: Bool, maxRank: Int, timings: Timings? = nil) throws -> (metrics: ReIDMetrics, synthetic: Bool) {
        guard let m = DistanceMetric(rawValue: metric) else {
            throw EvaluationError("--metric must be euclidean or cosine, got '\(metric)'")
        }
        let start = Date()
        let q = try ExtractedFeatures(contentsOf: queryFile), g = try ExtractedFeatures(contentsOf: galleryFile)
        if normalize {
            DistanceMatrix.normalize(q.features)
            DistanceMatrix.normalize(g.features)
        }
        timings?.load += Date().timeIntervalSince(start)
        return (try evaluate(query: q, gallery: g, metric: m, rerank: rerank, cuhk03: cuhk03, maxRank: maxRank,
                             timings: timings), q.synthetic || g.synthetic)
    }
}
