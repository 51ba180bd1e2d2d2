// Experiment: one training run from a recipe: prepare the data (generating SynthReID
// when the recipe asks for it), build or load the network, train with the loader,
// evaluate on the query and gallery splits, and leave the run folder with the recipe,
// metrics.jsonl, the checkpoint, the final model and results.json.
import Foundation
import NN
import ReIDData
import ReIDEval
import Tensors

public struct RunResult: Codable, Sendable {
    public var dataset: String
    public var synthetic: Bool
    public var arch: String
    public var params: Int
    public var gflops: Double
    public var epochs: Int
    public var rank1: Double
    public var rank5: Double
    public var rank10: Double
    public var rank20: Double
    public var mAP: Double
    public var mINP: Double
    public var numValidQueries: Int
    public var trainSeconds: Double
}

public final class Experiment {
    public let config: ExperimentConfig
    public let log: (String) -> Void

    public init(config: ExperimentConfig, log: @escaping (String) -> Void = { print($0) }) {
        self.config = config
        self.log = log
    }

    /// Reads the data set, generating it first when the recipe describes a SynthReID set
    /// that is not on disk yet.
    public static func prepareData(_ c: DataConfig, log: (String) -> Void) throws -> (ReIDDataset, synthetic: Bool) {
        if let synth = c.synth { try SynthReID.generate(synth, out: c.root, log: log) }
        var options = ReaderOptions()
        options.cuhk03Labeled = c.cuhk03Labeled
        var sets = [try DatasetReader.read(root: c.root, kind: c.kind, options: options)]
        for extra in c.extraTrainRoots { sets.append(try DatasetReader.read(root: extra, options: options)) }
        let roots = [c.root] + c.extraTrainRoots
        for (i, root) in roots.enumerated() {
            if let data = FileManager.default.contents(atPath: root + "/manifest.json"),
               let manifest = try? JSONDecoder().decode(SynthManifest.self, from: data) {
                sets[i].name = "synthreid-\(manifest.options.domain)"
            }
        }
        let dataset = ReIDDataset.combine(sets)
        try dataset.checkNonEmpty()
        let synthetic = roots.contains { FileManager.default.fileExists(atPath: $0 + "/manifest.json") }
        return (dataset, synthetic)
    }

    /// The network for `numClasses` identities, from the recipe's pretrained file when it
    /// names one: a file carrying an architecture (a possibly pruned reidprune model)
    /// gives that architecture; a torchvision/timm backbone loads into the recipe's.
    public static func buildNet(_ m: ModelConfig, numClasses: Int, seed: UInt64) throws -> ReIDNet {
        var head = m.head
        head.numClasses = numClasses
        guard let path = m.pretrained else { return try ReIDNet(architecture: m.architecture, head: head, seed: seed) }
        let file = try SafetensorsFile(path: path)
        let arch = try ModelWeights.architecture(of: file)?.0 ?? m.architecture
        let net = try ReIDNet(architecture: arch, head: head, seed: seed)
        try ModelWeights.load(file, into: net, match: .backbone, ignoring: ["optimizer.", "center_loss."])
        return net
    }

    /// Trains and evaluates; returns the final metrics.
    @discardableResult
    public func run(resume: Bool = true) throws -> RunResult {
        let c = config
        let dir = c.runDirectory
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(Data(c.yaml.utf8), to: dir + "/config.yaml")
        let (dataset, synthetic) = try Experiment.prepareData(c.data, log: log)
        log(dataset.summary + (synthetic ? " (synthetic)" : ""))
        let net = try Experiment.buildNet(c.model, numClasses: dataset.numTrainPids, seed: c.seed)
        let sampler: BatchSampler = c.data.identitySampler
            ? try IdentitySampler(pids: dataset.train.map(\.pid), identities: c.data.identities,
                                  instances: c.data.instances, seed: c.seed)
            : try ShuffleSampler(count: dataset.train.count, batchSize: c.data.batchSize, seed: c.seed)
        let loader = try DataLoader(records: dataset.train, labelMap: dataset.labelMap, sampler: sampler,
                                    augment: c.data.augment, options: c.data.loader)
        defer { loader.shutdown() }
        let trainer = try Trainer(net: net, source: loader, config: c.train, runDirectory: dir)
        if resume, let path = trainer.checkpointPath, FileManager.default.fileExists(atPath: path) {
            try trainer.resume(from: path)
            log("resumed from \(path) at epoch \(trainer.state.epoch)")
        }
        let start = Date()
        var last: ReIDMetrics?
        try trainer.train { epoch in
            if c.eval.every > 0 && epoch % c.eval.every == 0 && epoch < c.train.epochs {
                let m = try self.evaluate(net, dataset)
                trainer.log?.write(Experiment.metricsFields(m, epoch: epoch))
                self.log(Experiment.describe(m, prefix: "epoch \(epoch)", synthetic: synthetic))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        log(String(format: "trained %d epochs in %.0f s; data loader waited %.1f s over %d batches", c.train.epochs,
                   seconds, loader.waitSeconds, loader.batchesServed))
        last = try evaluate(net, dataset)
        let m = last!
        trainer.log?.write(Experiment.metricsFields(m, epoch: c.train.epochs))
        log(Experiment.describe(m, prefix: "final", synthetic: synthetic))
        try ModelWeights.save(net, to: dir + "/model.safetensors", metadata: ["synthetic": synthetic ? "true" : "false"])
        let cost = FLOPsCounter.count(net.architecture, head: net.headConfig, height: c.data.augment.height,
                                      width: c.data.augment.width)
        let result = RunResult(dataset: dataset.name, synthetic: synthetic, arch: c.model.archName, params: cost.params,
                               gflops: Double(cost.flops) / 1e9, epochs: c.train.epochs, rank1: m.rank(1),
                               rank5: m.rank(5), rank10: m.rank(10), rank20: m.rank(20), mAP: m.mAP, mINP: m.mINP,
                               numValidQueries: m.numValidQueries, trainSeconds: seconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(result), to: dir + "/results.json")
        return result
    }

    /// Query/gallery metrics of a network on the data set's test splits.
    public func evaluate(_ net: ReIDNet, _ dataset: ReIDDataset) throws -> ReIDMetrics {
        let e = config.eval
        let q = try FeatureExtractor.extract(net: net, records: dataset.query, augment: config.data.augment,
                                             batchSize: e.batchSize, flip: e.flip, normalize: e.normalize)
        let g = try FeatureExtractor.extract(net: net, records: dataset.gallery, augment: config.data.augment,
                                             batchSize: e.batchSize, flip: e.flip, normalize: e.normalize)
        return try Evaluation.evaluate(query: q, gallery: g, metric: e.metric, rerank: e.rerank, cuhk03: e.cuhk03,
                                       maxRank: e.maxRank)
    }

    static func metricsFields(_ m: ReIDMetrics, epoch: Int) -> [String: Any] {
        ["event": "eval", "epoch": epoch, "rank1": m.rank(1), "rank5": m.rank(5), "rank10": m.rank(10),
         "mAP": m.mAP, "mINP": m.mINP, "num_valid_queries": m.numValidQueries]
    }

    public static func describe(_ m: ReIDMetrics, prefix: String, synthetic: Bool) -> String {
        String(format: "%@%@: rank-1 %.1f%%  rank-5 %.1f%%  rank-10 %.1f%%  mAP %.1f%%  mINP %.1f%%  (%d valid queries)",
               prefix, synthetic ? " [synthetic data]" : "", 100 * m.rank(1), 100 * m.rank(5), 100 * m.rank(10),
               100 * m.mAP, 100 * m.mINP, m.numValidQueries)
    }
}
