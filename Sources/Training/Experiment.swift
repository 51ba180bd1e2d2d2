// Experiment: one training run from a recipe: recipe -> data (SynthReID generated when
// the recipe asks for it) -> network (built, loaded or resumed) -> a training session
// with its hooks (evaluation, pruning schedule, training-time criteria, checkpoints) ->
// the final evaluation, leaving the run folder with the recipe, metrics.jsonl, the
// checkpoint, the final model and results.json.
import Distributed
import Foundation
import NN
import Pruning
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
    public let comm: Communicator
    /// Prints on the root only.
    public let log: (String) -> Void

    public init(config: ExperimentConfig, comm: Communicator = LocalCommunicator(),
                log: @escaping (String) -> Void = { print($0) }) {
        var c = config
        // An iterative schedule with final_epochs sets the run's length: its last round's
        // epoch plus the final epochs (its rounds planned on the architecture the run starts from).
        if let p = c.prune, let start = try? Experiment.startArchitecture(c.model),
           let epochs = p.totalEpochs(start, head: c.model.head) {
            c.train.epochs = epochs
            c.deriveDependentValues()
        }
        self.config = c
        self.comm = comm
        let root = comm.isRoot
        self.log = { if root { log($0) } }
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
        let synthetic = roots.indices.map { markSynthetic(&sets[$0], root: roots[$0]) }.contains(true)
        let dataset = ReIDDataset.combine(sets)
        try dataset.checkNonEmpty()
        return (dataset, synthetic)
    }

    /// Names a SynthReID set after its domain ("synthreid-street"); true when `root` holds
    /// one (its manifest.json), so that results on it are labelled synthetic.
    public static func markSynthetic(_ set: inout ReIDDataset, root: String) -> Bool {
        guard FileManager.default.fileExists(atPath: root + "/manifest.json") else { return false }
        if let data = FileManager.default.contents(atPath: root + "/manifest.json"),
           let manifest = try? JSONDecoder().decode(SynthManifest.self, from: data) {
            set.name = "synthreid-\(manifest.options.domain)"
        }
        return true
    }

    /// The network for `numClasses` identities, from the recipe's pretrained file when it
    /// names one: a file carrying an architecture (a possibly pruned reidprune model)
    /// gives that architecture; a torchvision/timm backbone loads into the recipe's.
    public static func buildNet(_ m: ModelConfig, numClasses: Int, seed: UInt64) throws -> ReIDNet {
        var head = m.head
        head.numClasses = numClasses
        guard let path = m.pretrained else {
            return try ReIDNet(architecture: m.architecture, head: head, seed: seed, zeroInitResidual: m.zeroInitResidual)
        }
        let file = try SafetensorsFile(path: path)
        let saved = try ModelWeights.architecture(of: file)
        if let arch = saved?.0, arch.depthName != m.archName {
            throw WeightsError("model.pretrained '\(path)' holds a (possibly pruned) \(arch.depthName), not the "
                               + "model.arch \(m.archName) of the recipe")
        }
        let net = try ReIDNet(architecture: saved?.0 ?? m.architecture, head: head, seed: seed)
        // The same identities (a model trained on this data): everything, classifier included;
        // otherwise (another data set, an ImageNet backbone): the backbone only.
        let sameHead = saved.map { $0.1 == head } ?? false
        try ModelWeights.load(file, into: net, match: sameHead ? .strict : .backbone, ignoring: ["optimizer.", "center_loss."])
        return net
    }

    /// The architecture a run starts from: the one a pretrained reidprune model carries
    /// (possibly pruned), else the recipe's.
    public static func startArchitecture(_ m: ModelConfig) throws -> ResNetArchitecture {
        guard let path = m.pretrained else { return m.architecture }
        return try ModelWeights.architecture(of: try SafetensorsFile(path: path))?.0 ?? m.architecture
    }

    /// The data set, generated by the root when needed (the others wait for it).
    /// - Important: Collective — every rank calls this, in the same order.
    public func prepareData() throws -> (ReIDDataset, synthetic: Bool) {
        try comm.onRoot {
            if let synth = config.data.synth { try SynthReID.generate(synth, out: config.data.root, log: log) }
        }
        var data = config.data
        data.synth = nil
        return try Experiment.prepareData(data, log: log)
    }

    /// The evaluation of this recipe's data set across ranks.
    public func evaluator(_ dataset: ReIDDataset) -> DistributedEvaluator {
        DistributedEvaluator(dataset: dataset, eval: config.eval, augment: config.data.augment,
                             maxImagePixels: config.data.loader.maxImagePixels, comm: comm)
    }

    /// Trains and evaluates: recipe -> data -> network -> session (with its hooks) ->
    /// result. A run folder holding a checkpoint is resumed from it. The root holds the
    /// run folder's lock for the whole run.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func run(resume: Bool = true) throws -> RunResult {
        var lock: RunLock?
        try comm.onRoot {
            let l = try RunLock(folder: config.runDirectory)
            if let dead = l.tookOverFrom { log("run.dir '\(config.runDirectory)': took over the lock left by \(dead)") }
            let stale = l.removeStaleTemporaries()
            if !stale.isEmpty { log("run.dir '\(config.runDirectory)': removed \(stale.count) temporary file(s) left by a stopped run") }
            lock = l
        }
        return try withExtendedLifetime(lock) { try runLocked(resume: resume) }
    }

    /// - Important: Collective — every rank calls this, in the same order.
    private func runLocked(resume: Bool) throws -> RunResult {
        let c = config
        let (dataset, synthetic) = try prepareData()
        log(dataset.summary + (synthetic ? " (synthetic)" : ""))
        let checkpoint = c.runDirectory + "/checkpoint.safetensors"
        let resuming = try resume && comm.broadcast(FileManager.default.fileExists(atPath: checkpoint))
        let changes = resuming ? try checkResume(checkpoint) : []
        let unprunedFLOPs = FLOPsCounter.count(try Experiment.startArchitecture(c.model), height: c.data.augment.height,
                                               width: c.data.augment.width).flops
        let net = try network(numClasses: dataset.numTrainPids, resumingFrom: resuming ? checkpoint : nil)
        let loader = try makeLoader(dataset)
        defer { loader.shutdown() }
        let trainer = try Trainer(net: net, source: loader, config: c.train, runDirectory: c.runDirectory, comm: comm)
        if resuming {
            try trainer.resume(from: checkpoint)
            let rounds = trainer.state.pruningHistory.count
            log("resumed from \(checkpoint) at epoch \(trainer.state.epoch)" + (rounds == 0 ? "" : " after \(rounds) pruning round(s)"))
            if !changes.isEmpty {
                log("resumed with changed " + changes.map { "\($0.key) (\($0.old) -> \($0.new))" }.joined(separator: ", "))
                trainer.log?.write(["event": "resume", "epoch": trainer.state.epoch, "iteration": trainer.state.iteration,
                                    "changed": Dictionary(uniqueKeysWithValues: changes.map { ($0.key, [$0.old, $0.new]) })])
            }
        }
        trainer.state.recipe = c.yaml
        // Written once the run is sure to go on, so a refused start leaves the folder as it was.
        try comm.onRoot { try AtomicFile.write(Data(c.yaml.utf8), to: c.runDirectory + "/config.yaml") }
        if comm.size > 1 {
            log("\(comm.size) ranks, global batch \(loader.sampler.batchSize), \(loader.sampler.batchSize / comm.size) images per rank, "
                + "SyncBN \(c.train.distributed.syncBN ? "on" : "off"), gradient sync \(c.train.distributed.syncMode.rawValue)")
        }
        let evaluator = evaluator(dataset)
        try registerHooks(trainer, loader: loader, evaluator: evaluator, unprunedFLOPs: unprunedFLOPs, synthetic: synthetic)
        let start = Date()
        try trainer.train()
        let seconds = Date().timeIntervalSince(start)
        let skipped = trainer.state.skippedSteps
        log(String(format: "trained %d epochs in %.0f s; data loader waited %.1f s over %d batches", c.train.epochs,
                   seconds, loader.waitSeconds, loader.batchesServed)
            + (skipped > 0 ? "; skipped \(skipped) step(s) with non-finite loss or gradients (train.on_nonfinite: skip)" : ""))
        return try finish(trainer, evaluator: evaluator, dataset: dataset, synthetic: synthetic, seconds: seconds)
    }

    /// The changes between the checkpoint's recipe and this one, all safe; throws (on
    /// every rank, before anything is written) naming the keys whose change would break
    /// exact resumption.
    /// - Important: Collective — every rank calls this, in the same order.
    func checkResume(_ checkpoint: String) throws -> [ResumeCheck.Change] {
        try comm.onRoot { () -> [ResumeCheck.Change] in
            guard let saved = try Checkpoint.state(at: checkpoint).recipe else {
                log("\(checkpoint): written before checkpoints carried their recipe; resuming unchecked")
                return []
            }
            return try ResumeCheck.check(saved: saved, current: config.yaml, checkpoint: checkpoint)
        }
    }

    /// The network to train: when resuming, of the (possibly pruned) architecture the
    /// checkpoint carries (its weights come with the checkpoint); else from the recipe.
    /// - Important: Collective — every rank calls this, in the same order.
    func network(numClasses: Int, resumingFrom checkpoint: String?) throws -> ReIDNet {
        guard let checkpoint else { return try Experiment.buildNet(config.model, numClasses: numClasses, seed: config.seed) }
        let arch = try comm.onRoot { try Checkpoint.architecture(at: checkpoint) }
        var head = config.model.head
        head.numClasses = numClasses
        return try ReIDNet(architecture: arch, head: head, seed: config.seed)
    }

    func makeLoader(_ dataset: ReIDDataset) throws -> DataLoader {
        let d = config.data
        let sampler: BatchSampler = d.identitySampler
            ? try IdentitySampler(pids: dataset.train.map(\.pid), identities: d.identities, instances: d.instances,
                                  seed: config.seed)
            : try ShuffleSampler(count: dataset.train.count, batchSize: d.batchSize, seed: config.seed)
        return try DataLoader(records: dataset.train, labelMap: dataset.labelMap, sampler: sampler, augment: d.augment,
                              options: d.loader, rank: comm.rank, world: comm.size)
    }

    /// Evaluation during training, the pruning schedule and its training-time criterion.
    func registerHooks(_ trainer: Trainer, loader: DataLoader, evaluator: DistributedEvaluator, unprunedFLOPs: Int,
                       synthetic: Bool) throws {
        if let schedule = config.prune, trainer.state.pruningHistory.isEmpty, TrainingTimeCriterionHook.needed(schedule) {
            trainer.register(try TrainingTimeCriterionHook(schedule: schedule, net: trainer.net))
        }
        trainer.register(EvaluationHook(evaluator: evaluator, every: config.eval.every, synthetic: synthetic, say: log))
        if let schedule = config.prune {
            trainer.register(PruneScheduleHook(schedule: schedule, start: try Experiment.startArchitecture(config.model),
                                               head: trainer.net.headConfig, unprunedFLOPs: unprunedFLOPs, loader: loader,
                                               evaluator: evaluator, synthetic: synthetic, say: log))
        }
    }

    /// The final evaluation, model.safetensors (with its pruning history), results.json and report.html.
    /// - Important: Collective — every rank calls this, in the same order.
    func finish(_ trainer: Trainer, evaluator: DistributedEvaluator, dataset: ReIDDataset, synthetic: Bool,
                seconds: Double) throws -> RunResult {
        let c = config
        try trainer.averageRunningStatistics()
        try trainer.requireFiniteState(before: "model.safetensors")
        let m = try evaluator.evaluate(trainer.net)
        trainer.log?.write(m.logFields(epoch: trainer.state.epoch))
        log(m.summary("final", synthetic: synthetic))
        let cost = FLOPsCounter.count(trainer.net.architecture, head: trainer.net.headConfig, height: c.data.augment.height,
                                      width: c.data.augment.width)
        let result = RunResult(dataset: dataset.name, synthetic: synthetic, arch: c.model.archName, params: cost.params,
                               gflops: Double(cost.flops) / 1e9, epochs: c.train.epochs, rank1: m.rank(1),
                               rank5: m.rank(5), rank10: m.rank(10), rank20: m.rank(20), mAP: m.mAP, mINP: m.mINP,
                               numValidQueries: m.numValidQueries, trainSeconds: seconds)
        try comm.onRoot {
            var meta = try PrunePlan.metadata(for: trainer.state.pruningHistory)
            meta["synthetic"] = synthetic ? "true" : "false"
            try ModelWeights.save(trainer.net, to: c.runDirectory + "/model.safetensors", metadata: meta)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(result), to: c.runDirectory + "/results.json")
            try RunPage.write(result, directory: c.runDirectory)
        }
        return result
    }
}

extension Experiment {
    /// Metrics of a saved model on this recipe's data set (`reidprune eval`).
    /// - Important: Collective — every rank calls this, in the same order.
    public func evaluate(weights: String) throws -> (metrics: ReIDMetrics, synthetic: Bool) {
        let (dataset, synthetic) = try prepareData()
        let net = try ModelWeights.loadNet(weights, expected: config.model.archName)
        return (try evaluator(dataset).evaluate(net), synthetic)
    }
}
