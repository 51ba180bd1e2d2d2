// FeatureExtractor: eval-mode features of a split: batched, optionally averaged with the
// horizontally flipped images, optionally L2-normalized. records -> features (N, D),
// pids, camids. The test-time descriptor is the head's embedding (after BNNeck when the
// head has one; the pooled backbone features otherwise).
import Foundation
import NN
import ReIDData
import ReIDEval
import Tensors

public struct ExtractedFeatures {
    /// (N, D)
    public var features: Tensor
    public var pids: [Int]
    public var camids: [Int]

    public init(features: Tensor, pids: [Int], camids: [Int]) {
        self.features = features
        self.pids = pids
        self.camids = camids
    }
}

public enum FeatureExtractor {
    public static func extract(net: ReIDNet, records: [ImageRecord], augment: AugmentConfig, batchSize: Int,
                               flip: Bool = false, normalize: Bool = false) throws -> ExtractedFeatures {
        let d = net.head.outputDim
        let out = Tensor(shape: [records.count, d], layout: .nc)
        var pids: [Int] = [], camids: [Int] = []
        var row = 0
        try SplitLoader(records: records, augment: augment, batchSize: batchSize).forEach { batch in
            let n = batch.count
            let e = try net.forward(batch.images, mode: .inference).embeddings
            (out.data + row * d).update(from: e.data, count: n * d)
            if flip {
                let f = try net.forward(flipped(batch.images), mode: .inference).embeddings
                let dst = out.data + row * d
                for i in 0..<(n * d) { dst[i] = (dst[i] + f.data[i]) / 2 }
            }
            pids += batch.pids
            camids += batch.camids
            row += n
        }
        if normalize { DistanceMatrix.normalize(out) }
        return ExtractedFeatures(features: out, pids: pids, camids: camids)
    }

    /// images: (N, H, W, C) mirrored left to right.
    static func flipped(_ images: Tensor) -> Tensor {
        let (n, h, w, c) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let out = Tensor(shape: images.shape, layout: .nhwc)
        for b in 0..<n {
            for y in 0..<h {
                let src = images.data + ((b * h + y) * w) * c, dst = out.data + ((b * h + y) * w) * c
                for x in 0..<w { (dst + (w - 1 - x) * c).update(from: src + x * c, count: c) }
            }
        }
        return out
    }

    /// Writes features, pids and camids as a safetensors file (F32, I64, I64).
    public static func save(_ f: ExtractedFeatures, to path: String, metadata: [String: String] = [:]) throws {
        var w = SafetensorsWriter()
        w.add("features", floats: UnsafeBufferPointer(f.features.buffer), shape: f.features.shape)
        w.add("pids", int64s: f.pids.map(Int64.init), shape: [f.pids.count])
        w.add("camids", int64s: f.camids.map(Int64.init), shape: [f.camids.count])
        w.metadata = metadata
        try w.write(to: path)
    }

    /// Reads a features file; errors name the missing tensor or the mismatch.
    public static func load(_ path: String) throws -> ExtractedFeatures {
        let file = try SafetensorsFile(path: path)
        for key in ["features", "pids", "camids"] where file.entry(key) == nil {
            throw WeightsError("\(path): missing tensor '\(key)' (a features file holds features, pids and camids)")
        }
        let e = file.entry("features")!
        guard e.shape.count == 2 else { throw WeightsError("\(path): 'features' must be (N, D), got \(e.shape)") }
        let features = Tensor(shape: e.shape, layout: .nc, values: try file.floats("features"))
        let pids = try file.int64s("pids").map { Int($0) }, camids = try file.int64s("camids").map { Int($0) }
        guard pids.count == e.shape[0], camids.count == e.shape[0] else {
            throw WeightsError("\(path): \(e.shape[0]) features but \(pids.count) pids and \(camids.count) camids")
        }
        if let bad = features.toArray().firstIndex(where: { !$0.isFinite }) {
            throw WeightsError("\(path): feature \(bad / e.shape[1]) holds NaN or infinite values")
        }
        return ExtractedFeatures(features: features, pids: pids, camids: camids)
    }
}

public enum Evaluation {
    /// Metrics of query against gallery features under the configured protocol.
    public static func evaluate(query: ExtractedFeatures, gallery: ExtractedFeatures, metric: DistanceMetric,
                                rerank: Bool, cuhk03: Bool, maxRank: Int = 50) throws -> ReIDMetrics {
        guard query.features.shape[1] == gallery.features.shape[1] else {
            throw EvaluationError("query features have \(query.features.shape[1]) dimensions but gallery features "
                                  + "\(gallery.features.shape[1])")
        }
        guard query.features.shape[0] > 0 else { throw EvaluationError("the query set is empty") }
        guard gallery.features.shape[0] > 0 else { throw EvaluationError("the gallery set is empty") }
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
