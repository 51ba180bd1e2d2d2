// Experiment+Classification: a classification (pretraining) run in the same training
// session and hooks as re-ID: data (image folders or shards) -> torchvision's ResNet
// with `fc` (built, loaded or resumed) -> SGD with the learning rate scaled to the
// global batch, label-smoothed cross-entropy, evaluation and pruning hooks -> top-1/
// top-5 across ranks, model.safetensors (with its pruning history), results.json.
import Distributed
import Foundation
import NN
import Pruning
import ReIDData
import ReIDEval
import Tensors

extension Experiment {
    /// Trains and evaluates the recipe's task; a run folder holding a checkpoint is
    /// resumed from it. The root holds the run folder's lock for the whole run.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func train(resume: Bool = true) throws -> RunOutcome {
        if let epochsNote { log(epochsNote) }
        switch config.task {
        case .reid: return .reid(try run(resume: resume))
        case .classification: return .classification(try runClassification(resume: resume))
        }
    }

    /// A classification run on the recipe's data.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func runClassification(resume: Bool = true) throws -> ClassificationResult {
        try runClassification(resume: resume) { try self.openClassificationData() }
    }

    /// A classification run on the data `open` gives (opened once the run folder is locked).
    /// - Important: Collective — every rank calls this, in the same order.
    public func runClassification(resume: Bool = true, open: () throws -> ClassificationRunData) throws -> ClassificationResult {
        guard config.task == .classification else { throw ConfigError("task: the recipe trains re-ID, not classification") }
        let lock = try startingUp { try lockRunFolder() }
        return try withExtendedLifetime(lock) {
            let data = try startingUp { try open() }
            defer { data.shutdown() }
            return try classificationLocked(data, resume: resume)
        }
    }

    /// - Important: Collective — every rank calls this, in the same order.
    private func classificationLocked(_ data: ClassificationRunData, resume: Bool) throws -> ClassificationResult {
        let c = config
        log(data.summary)
        // Watched as "start-up" until the training session is ready (see the re-ID run).
        let outer = comm.watch.phase
        defer { comm.watch.phase = outer }
        comm.watch.phase = "start-up"
        let checkpoint = c.runDirectory + "/checkpoint.safetensors"
        let resuming = try resume && comm.broadcast(FileManager.default.fileExists(atPath: checkpoint))
        if resume && !resuming { try refuseFinishedRunWithoutCheckpoint() }
        let changes = resuming ? try checkResume(checkpoint, perRankStream: !data.allowsRankCountChange,
                                                 batches: data.source.batches(inEpoch:)) : []
        let size = data.imageSize
        let startArch = try startArchitecture()
        let unprunedFLOPs = FLOPsCounter.count(startArch, height: size, width: size).flops
        let net = try network(numClasses: data.numClasses, resumingFrom: resuming ? checkpoint : nil)
        let train = c.train.scaled(forGlobalBatch: data.globalBatch)
        let trainer = try Trainer(net: net, source: data.source, config: train, runDirectory: c.runDirectory, comm: comm)
        try startOrResume(trainer, checkpoint: resuming ? checkpoint : nil, changes: changes)
        try comm.onRoot { try AtomicFile.write(Data(c.yaml.utf8), to: c.runDirectory + "/config.yaml") }
        log(String(format: "%d rank(s), global batch %d, %d images per rank, lr %g (%@), SyncBN %@", comm.size,
                   data.globalBatch, data.globalBatch / comm.size, train.schedule.base,
                   c.train.lrReferenceBatch > 0 ? "\(c.train.schedule.base) x \(data.globalBatch) / \(c.train.lrReferenceBatch)"
                       : "as given", c.train.distributed.syncBN ? "on" : "off"))
        comm.watch.phase = outer
        let evaluator = ClassificationEvaluator(comm: comm, slice: data.validation)
        var schedule = c.prune
        schedule?.settings.ranking.height = size
        schedule?.settings.ranking.width = size
        try registerHooks(trainer, source: data.source, evaluator: evaluator, start: startArch, unprunedFLOPs: unprunedFLOPs,
                          synthetic: data.synthetic, schedule: schedule)
        let start = Date()
        try trainer.train()
        let seconds = Date().timeIntervalSince(start)
        log("trained \(trainer.trainedAmount)" + String(format: " in %.0f s; data loader waited %.1f s", seconds, data.waitSeconds()))
        return try finishClassification(trainer, evaluator: evaluator, data: data, seconds: seconds)
    }

    /// The final evaluation, model.safetensors (with the full pruning history), results.json
    /// and report.html.
    /// - Important: Collective — every rank calls this, in the same order.
    func finishClassification(_ trainer: Trainer, evaluator: ClassificationEvaluator, data: ClassificationRunData,
                              seconds: Double) throws -> ClassificationResult {
        let c = config
        try trainer.averageRunningStatistics()
        try trainer.requireFiniteState(before: "model.safetensors")
        let m = try evaluator.evaluate(trainer.net)
        try trainer.log?.write(m.logFields(epoch: trainer.state.epoch))
        log(m.summary("final", synthetic: data.synthetic))
        let cost = FLOPsCounter.count(trainer.net.architecture, head: trainer.net.headConfig, height: data.imageSize,
                                      width: data.imageSize)
        let result = ClassificationResult(dataset: data.name, synthetic: data.synthetic, arch: c.model.archName,
                                          numClasses: data.numClasses, params: cost.params, gflops: Double(cost.flops) / 1e9,
                                          imageSize: data.imageSize, epochs: trainer.state.epoch, top1: m.top1, top5: m.top5,
                                          images: m.images, pruningRounds: trainer.state.fullHistory.count, trainSeconds: seconds,
                                          precision: c.train.precision.rawValue,
                                          iterations: trainer.iterationsIfCut)
        try comm.onRoot {
            let names = String(decoding: try JSONEncoder().encode(data.classNames), as: UTF8.self)
            try writeRunFiles(trainer, synthetic: data.synthetic, metadata: ["reidprune.class_names": names],
                              result: result) { try RunPage.write($0, directory: c.runDirectory) }
        }
        return result
    }
}

extension Experiment {
    /// The recipe's classification data: this rank's training source and val slice.
    /// - Important: Collective — every rank calls this, in the same order.
    func openClassificationData() throws -> ClassificationRunData {
        let d = config.classificationData
        return try openOnEveryRank(splits: [.train, .val]) { dataset, reader, folder in
            let source = try ClassificationSource(dataset: dataset, options: d.loaderOptions(seed: config.seed),
                                                  rank: comm.rank, world: comm.size)
            return ClassificationRunData(
                name: (URL(fileURLWithPath: folder).standardizedFileURL.lastPathComponent) + " (\(dataset.layout.rawValue))",
                synthetic: Experiment.isSynthetic(folder), classNames: dataset.classNames, source: source,
                globalBatch: d.batchSize, imageSize: d.transform.size, trainImages: dataset.count(.train),
                allowsRankCountChange: !source.perRankStream, waitSeconds: { source.waitSeconds },
                shutdown: { source.shutdown() }, validation: { ValidationSlice(reader) })
        }
    }

    /// Opens the recipe's classification data set (generated first by the root when
    /// `data.synth` asks for it) and this rank's validation reader, then `body` with
    /// them and the data set's folder. A rank that fails stops every rank with its message,
    /// which the root reports once.
    /// - Important: Collective — every rank calls this, in the same order.
    func openOnEveryRank<T>(splits: Set<ClassificationSplit>,
                            _ body: (ClassificationDataset, ValidationReader, String) throws -> T) throws -> T {
        let d = config.classificationData
        // The root generates a synthetic set that is not on disk yet; the others wait for it.
        // Shards (a folder of them, a brace pattern, a .tar) are read as they are: `synth`
        // describes a folder set.
        // The root decides whether there is a set to make, so that every rank takes the same path.
        if let synth = d.synth, try comm.broadcast(ClassificationLayout.recognize(d.root) != .webdataset) {
            // Every rank: a stop signal while the root generates ends the generation.
            try comm.unwatched {
                try StopSignals.generatingData {
                    try comm.onRoot { _ = try SynthClassification.generate(synth, out: d.root, log: log, stop: Self.stopRequested) }
                }
            }
        }
        return try comm.onEveryRank({
            let dataset: ClassificationDataset
            do { dataset = try ClassificationDataset.open(d.root, layout: d.kind, splits: splits) } catch {
                throw DatasetError("data.root: \(error)")
            }
            let reader = try ValidationReader(dataset: dataset, transform: d.transform, batchSize: config.eval.batchSize,
                                              rank: comm.rank, world: comm.size, maxImagePixels: d.maxImagePixels)
            var isFolder: ObjCBool = false
            let folder = FileManager.default.fileExists(atPath: d.root, isDirectory: &isFolder) && isFolder.boolValue ? d.root
                : (d.root as NSString).deletingLastPathComponent
            return try body(dataset, reader, folder)
        }, discard: { ($0 as? ClassificationRunData)?.shutdown() })
    }

    /// Whether the data set in `folder` is synthetic (its generator left a manifest).
    static func isSynthetic(_ folder: String) -> Bool {
        FileManager.default.fileExists(atPath: folder + "/manifest.json")
    }
}

extension Experiment {
    /// Top-1/top-5 of a saved classification model on this recipe's validation set
    /// (`reidprune eval` with a classification recipe): a reidprune model, or a
    /// torchvision/timm file with its `fc` (the recipe's architecture, loaded strictly).
    /// - Important: Collective — every rank calls this, in the same order.
    public func evaluateClassification(weights: String) throws -> (metrics: ClassificationMetrics, synthetic: Bool) {
        // The file first: a wrong path is named before a synthetic set is generated.
        let file = try comm.onEveryRank { try SafetensorsFile(path: weights) }
        let (classes, reader, synthetic) = try openOnEveryRank(splits: [.val]) { dataset, reader, folder in
            (dataset.numClasses, reader, Experiment.isSynthetic(folder))
        }
        // Every rank loads the model; a problem with it is reported once.
        let net = try comm.onEveryRank { () -> ReIDNet in
            let net: ReIDNet
            if try ModelWeights.architecture(of: file) != nil {
                net = try ModelWeights.loadNet(file, expected: config.model.archName)
            } else {
                net = try ReIDNet(architecture: config.model.architecture, head: .classification(numClasses: classes))
                try ModelWeights.load(file, into: net, match: .strict)
            }
            guard net.headConfig.task == .classification, net.headConfig.numClasses == classes else {
                throw ConfigError("\(weights): a \(net.headConfig.task.rawValue) model with \(net.headConfig.numClasses) classes "
                                  + "cannot be evaluated on the \(classes) classes of data.root '\(config.classificationData.root)'")
            }
            try config.train.precision.requireSupported(key: "train.precision")
            return net
        }
        net.precision = config.train.precision
        return (try ClassificationEvaluator(comm: comm) { ValidationSlice(reader) }.evaluate(net), synthetic)
    }
}
