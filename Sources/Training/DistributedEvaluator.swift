// DistributedEvaluator: query/gallery metrics of a network on a data set's test splits
// across ranks: every rank extracts the features of its share of each split, the root
// gathers them and computes the metrics (ReIDEval), and every rank receives the result.
import Distributed
import Foundation
import NN
import ReIDData
import ReIDEval
import Tensors

public struct DistributedEvaluator {
    public let dataset: ReIDDataset
    public let eval: EvalConfig
    /// The test-time image size and normalization (the recipe's data.augment).
    public let augment: AugmentConfig
    /// Images whose header claims more pixels are refused (the recipe's data.max_image_pixels).
    public let maxImagePixels: Int
    public let comm: Communicator

    public init(dataset: ReIDDataset, eval: EvalConfig, augment: AugmentConfig,
                maxImagePixels: Int = ImageCodec.defaultMaxImagePixels, comm: Communicator) {
        self.dataset = dataset
        self.eval = eval
        self.augment = augment
        self.maxImagePixels = maxImagePixels
        self.comm = comm
    }

    /// - Important: Collective — every rank calls this, in the same order.
    public func evaluate(_ net: ReIDNet) throws -> ReIDMetrics {
        try comm.watched("evaluation") { try evaluate(features: try features(net)) }
    }

    /// The query and gallery features of `net` at the root (nil elsewhere): features (Q, D), (G, D).
    /// - Important: Collective — every rank calls this, in the same order.
    public func features(_ net: ReIDNet) throws -> (query: ExtractedFeatures, gallery: ExtractedFeatures)? {
        let q = try comm.extractShared(dataset.query) { try extract(net, $0) }
        let g = try comm.extractShared(dataset.gallery) { try extract(net, $0) }
        guard let q, let g else { return nil }
        return (q, g)
    }

    /// The metrics of features from `features(_:)`, computed at the root, known to every rank.
    /// - Important: Collective — every rank calls this, in the same order.
    public func evaluate(features: (query: ExtractedFeatures, gallery: ExtractedFeatures)?) throws -> ReIDMetrics {
        try comm.onRoot {
            guard let (q, g) = features else { throw EvaluationError("the root received no features") }
            return try Evaluation.evaluate(query: q, gallery: g, metric: eval.metric, rerank: eval.rerank,
                                           cuhk03: eval.cuhk03, maxRank: eval.maxRank)
        }
    }

    func extract(_ net: ReIDNet, _ records: [ImageRecord]) throws -> ExtractedFeatures {
        try FeatureExtractor.extract(net: net, records: records, augment: augment, batchSize: eval.batchSize,
                                     flip: eval.flip, normalize: eval.normalize, maxImagePixels: maxImagePixels)
    }
}

extension Communicator {
    /// This rank's contiguous share of `items` (rank order: the shares joined are `items`).
    func share<T>(_ items: [T]) -> [T] {
        Array(items[(items.count * rank / size)..<(items.count * (rank + 1) / size)])
    }

    /// The features of `records`, each rank extracting its share: every row at the root,
    /// in order (nil elsewhere). A rank that meets a bad image says so once, for every
    /// rank, before anyone gathers.
    /// - Important: Collective — every rank calls this, in the same order.
    func extractShared(_ records: [ImageRecord], _ extract: ([ImageRecord]) throws -> ExtractedFeatures) throws
        -> ExtractedFeatures? {
        try gatherRows(try onEveryRank { try extract(share(records)) })
    }

    /// Every rank's feature rows at the root, in rank order (nil elsewhere); labels only,
    /// the rows' paths are the caller's to set.
    /// - Important: Collective — every rank calls this, in the same order.
    func gatherRows(_ f: ExtractedFeatures) throws -> ExtractedFeatures? {
        if size == 1 { return f }
        let d = f.features.shape[1]
        let feats = try gather(floats: f.features.toArray())
        let pids = try gather(ints: f.pids), cams = try gather(ints: f.camids)
        guard let feats, let pids, let cams else { return nil }
        let values = feats.flatMap { $0 }
        return ExtractedFeatures(features: Tensor(shape: [values.count / d, d], layout: .nc, values: values),
                                 pids: pids.flatMap { $0 }, camids: cams.flatMap { $0 })
    }
}

extension ReIDMetrics {
    /// The metrics-log line of an evaluation.
    public func logFields(epoch: Int) -> [String: Any] {
        ["event": "eval", "epoch": epoch, "rank1": rank(1), "rank5": rank(5), "rank10": rank(10),
         "mAP": mAP, "mINP": mINP, "num_valid_queries": numValidQueries]
    }
}
