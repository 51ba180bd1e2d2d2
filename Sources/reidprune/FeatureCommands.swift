// `reidprune extract` and `reidprune evaluate`: features of a split to a safetensors
// file, and metrics of query against gallery feature files.
import ArgumentParser
import Foundation
import NN
import ReIDData
import ReIDEval
import Training

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract", abstract: "Write eval-mode features of a data set split (features, pids, camids).")

    @Option(help: "Model weights (safetensors).") var weights: String
    @Option(help: "Architecture for a file without reidprune metadata (a torchvision/timm backbone).") var arch: String?
    @Option(help: "Data set folder (any supported layout).") var data: String
    @Option(help: "Split: query, gallery or train.") var split: String
    @Option(help: "Output safetensors file.") var out: String
    @Option(help: "Input height.") var height = 256
    @Option(help: "Input width.") var width = 128
    @Option(help: "Images per batch.") var batchSize = 64
    @Flag(help: "Average with the horizontally flipped images.") var flip = false
    @Flag(help: "L2-normalize the features.") var normalize = false

    func run() throws {
        let file = try SafetensorsFile(path: weights)
        let net: ReIDNet
        if try ModelWeights.architecture(of: file) != nil {
            net = try ModelWeights.loadNet(weights)
        } else {
            guard let arch, let depth = ResNetArchitecture.Depth(name: arch) else {
                throw ValidationError("\(weights) carries no architecture: pass --arch resnet18|resnet34|resnet50|resnet101")
            }
            net = try ReIDNet(architecture: .resnet(depth), head: HeadConfig(bnneck: false))
            try ModelWeights.load(file, into: net, match: .backbone)
        }
        let dataset = try DatasetReader.read(root: data)
        let records: [ImageRecord]
        switch split {
        case "query": records = dataset.query
        case "gallery": records = dataset.gallery
        case "train": records = dataset.train
        default: throw ValidationError("--split must be query, gallery or train, got '\(split)'")
        }
        guard !records.isEmpty else { throw ValidationError("\(data): the \(split) split is empty") }
        var augment = AugmentConfig()
        augment.height = height
        augment.width = width
        let f = try FeatureExtractor.extract(net: net, records: records, augment: augment, batchSize: batchSize, flip: flip,
                                             normalize: normalize)
        try FeatureExtractor.save(f, to: out, metadata: ["split": split, "data": data])
        print("\(out): \(f.features.shape[0]) x \(f.features.shape[1]) features of the \(split) split of \(dataset.name)")
    }
}

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate", abstract: "CMC rank-1/5/10/20, mAP and mINP of query against gallery features.")

    @Option(help: "Query features (safetensors: features, pids, camids).") var query: String
    @Option(help: "Gallery features.") var gallery: String
    @Option(help: "euclidean or cosine.") var metric = "euclidean"
    @Flag(help: "L2-normalize features first.") var normalize = false
    @Flag(help: "k-reciprocal re-ranking (k1 20, k2 6, lambda 0.3).") var rerank = false
    @Flag(help: "CUHK03 single-gallery-shot CMC (10 seeded repeats).") var cuhk03 = false
    @Option(help: "Max rank of the CMC.") var maxRank = 50
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        guard let m = DistanceMetric(rawValue: metric) else { throw ValidationError("--metric must be euclidean or cosine") }
        let q = try FeatureExtractor.load(query), g = try FeatureExtractor.load(gallery)
        if normalize {
            DistanceMatrix.normalize(q.features)
            DistanceMatrix.normalize(g.features)
        }
        let r = try Evaluation.evaluate(query: q, gallery: g, metric: m, rerank: rerank, cuhk03: cuhk03, maxRank: maxRank)
        printMetrics(r, json: json, synthetic: false)
    }
}

/// Prints metrics as a table or one JSON object with fractions in [0, 1].
func printMetrics(_ m: ReIDMetrics, json: Bool, synthetic: Bool) {
    if json {
        var o: [String: Any] = ["rank1": m.rank(1), "rank5": m.rank(5), "rank10": m.rank(10), "rank20": m.rank(20),
                                "mAP": m.mAP, "mINP": m.mINP, "num_valid_queries": m.numValidQueries,
                                "num_queries": m.numQueries, "max_rank": m.maxRank]
        if synthetic { o["synthetic"] = true }
        let data = try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        return
    }
    if synthetic { print("SynthReID (synthetic data)") }
    print(String(format: "rank-1 %6.2f%%  rank-5 %6.2f%%  rank-10 %6.2f%%  rank-20 %6.2f%%  mAP %6.2f%%  mINP %6.2f%%",
                 100 * m.rank(1), 100 * m.rank(5), 100 * m.rank(10), 100 * m.rank(20), 100 * m.mAP, 100 * m.mINP))
    print("valid queries: \(m.numValidQueries) of \(m.numQueries)" + (m.maxRank < 50 ? " (CMC clipped to the gallery size, \(m.maxRank))" : ""))
}
