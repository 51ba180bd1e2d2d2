// FeatureExtractor: eval-mode features of a split: batched, optionally averaged with the
// horizontally flipped images, optionally L2-normalized. records -> features (N, D),
// pids, camids (and, in the file `extract` writes, image paths relative to the data
// folder). The test-time descriptor is the head's embedding (after BNNeck when the head
// has one; the pooled backbone features otherwise).
import Distributed
import Foundation
import NN
import ReIDData
import ReIDEval
import Tensors

public enum FeatureExtractor {
    public static func extract(net: ReIDNet, records: [ImageRecord], augment: AugmentConfig, batchSize: Int,
                               flip: Bool = false, normalize: Bool = false,
                               maxImagePixels: Int = ImageCodec.defaultMaxImagePixels) throws -> ExtractedFeatures {
        let d = net.head.outputDim
        let out = Tensor(shape: [records.count, d], layout: .nc)
        var pids: [Int] = [], camids: [Int] = []
        var row = 0
        let loader = SplitLoader(records: records, augment: augment, batchSize: batchSize, maxImagePixels: maxImagePixels)
        try loader.forEach { batch in
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

    /// `path` relative to the data folder `root` when it lies inside it; otherwise unchanged.
    public static func relative(_ path: String, to root: String) -> String {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
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
}

extension FeatureExtractor {
    /// Eval-mode features of one split (query, gallery or train) of the data set at `data`
    /// with the model in `weights`, written to `out` (`reidprune extract`); `arch` names
    /// the architecture of a file without reidprune metadata (a torchvision/timm
    /// backbone). Under several ranks each extracts its share of the split and the root
    /// gathers the rows in order and writes the file. Returns a line describing what was
    /// written (every rank learns the root's).
    /// - Important: Collective — every rank calls this, in the same order.
    public static func extract(weights: String, arch: String?, data: String, split: String, out: String,
                               height: Int, width: Int, batchSize: Int, flip: Bool, normalize: Bool,
                               precision: Precision = .fp32, reader: ReaderOptions = ReaderOptions(),
                               comm: Communicator = LocalCommunicator()) throws -> String {
        var augment = AugmentConfig()
        augment.height = height
        augment.width = width
        // Only the root writes: the output is its to check (the ranks may not share a file system).
        try comm.onRoot { try AtomicFile.checkCreatable([out]) }
        let (net, dataset, records, synthetic) = try comm.onEveryRank {
            () throws -> (ReIDNet, ReIDDataset, [ImageRecord], Bool) in
            try precision.requireSupported(key: "--precision")
            try augment.validate()
            guard batchSize >= 1 else { throw ImageError("--batch-size must be at least 1, got \(batchSize)") }
            let net = try loadNet(weights: weights, arch: arch)
            net.precision = precision
            var dataset = try DatasetReader.read(root: data, options: reader)
            let synthetic = Experiment.markSynthetic(&dataset, root: data)
            let records: [ImageRecord]
            switch split {
            case "query": records = dataset.query
            case "gallery": records = dataset.gallery
            case "train": records = dataset.train
            default: throw DatasetError("--split must be query, gallery or train, got '\(split)'")
            }
            guard !records.isEmpty else { throw DatasetError("\(data): the \(split) split is empty") }
            return (net, dataset, records, synthetic)
        }
        let all = try comm.extractShared(records) {
            try extract(net: net, records: $0, augment: augment, batchSize: batchSize, flip: flip, normalize: normalize)
        }
        return try comm.onRoot {
            guard var f = all else { throw EvaluationError("the root received no features") }
            f.paths = records.map { relative($0.path, to: data) }
            f.synthetic = synthetic
            // How the features were made, so that a later comparison (benchmarks/onnx_check.py) can say why it differs.
            try f.save(to: out, metadata: ModelWeights.inputSizeMetadata(height: height, width: width).merging(
                ["split": split, "data": data, "flip": "\(flip)", "normalize": "\(normalize)"]) { _, new in new })
            return "\(out): \(f.features.shape[0]) x \(f.features.shape[1]) features of the \(split) split of \(dataset.name)"
                + (synthetic ? " (synthetic data)" : "")
        }
    }

    /// The network in `weights`: a reidprune model file, or a torchvision/timm backbone
    /// (`arch` names its depth) under a re-ID head without BNNeck.
    static func loadNet(weights: String, arch: String?) throws -> ReIDNet {
        let file = try SafetensorsFile(path: weights)
        if try ModelWeights.architecture(of: file) != nil { return try ModelWeights.loadNet(file, expected: arch) }
        guard let arch, let depth = ResNetArchitecture.Depth(name: arch) else {
            let given = arch.map { " (not '\($0)')" } ?? ""
            throw WeightsError("\(weights) carries no architecture: pass --arch resnet18|resnet34|resnet50|resnet101\(given)")
        }
        let net = try ReIDNet(architecture: .resnet(depth), head: HeadConfig(bnneck: false))
        try ModelWeights.load(file, into: net, match: .backbone)
        return net
    }
}
