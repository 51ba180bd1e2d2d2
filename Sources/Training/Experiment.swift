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
    /// Epochs completed: the recipe's train.epochs, or fewer when train.max_iterations ended the run.
    public var epochs: Int
    public var rank1: Double
    public var rank5: Double
    public var rank10: Double
    public var rank20: Double
    public var mAP: Double
    public var mINP: Double
    public var numValidQueries: Int
    public var trainSeconds: Double
    /// `train.precision` of the run ("fp32" or "bf16"); absent in files written before it was recorded.
    public var precision: String? = nil
    /// Training images that could not be read and were replaced by another image of the
    /// same identity (`data.skip_corrupt`), over every rank, since the run started (resumes
    /// included); absent when none was.
    public var skippedImages: Int? = nil
    /// Iterations trained, when train.max_iterations ended the run before its epochs; absent otherwise.
    public var iterations: Int? = nil
}

public final class Experiment {
    public let config: ExperimentConfig
    public let comm: Communicator
    /// Said when the run starts: the prune schedule set train.epochs to another value than the recipe's.
    public let epochsNote: String?
    /// Prints on the root only.
    public let log: (String) -> Void

    public init(config: ExperimentConfig, comm: Communicator = LocalCommunicator(),
                log: @escaping (String) -> Void = { print($0) }) {
        var c = config
        var note: String?
        // An iterative schedule with final_epochs sets the run's length: its last round's
        // epoch plus the final epochs (its rounds planned on the architecture the run starts from).
        if let p = c.prune, let start = try? Experiment.startArchitecture(c.model),
           let epochs = p.totalEpochs(start, head: c.model.head) {
            if epochs != c.train.epochs {
                note = "train.epochs: \(epochs), the prune schedule's last round (after epoch \(epochs - p.finalEpochs!)) "
                    + "and prune.final_epochs \(p.finalEpochs!), in place of the recipe's \(c.train.epochs)"
            }
            c.train.epochs = epochs
            c.deriveDependentValues()
        }
        epochsNote = note
        self.config = c
        self.comm = comm
        let root = comm.isRoot
        self.log = { if root { log($0) } }
    }

    /// A stop signal received (by a run that catches them) while data is generated: the
    /// generation ends at once, as there is no step to finish.
    static let stopRequested: @Sendable () -> String? = { StopSignals.current?.requested }

    /// Writes the SynthReID set `synth` describes at `root` unless it is there; a stop
    /// signal ends the generation at once.
    static func generate(_ synth: SynthOptions, at root: String, log: (String) -> Void) throws {
        _ = try StopSignals.generatingData { try SynthReID.generate(synth, out: root, log: log, stop: stopRequested) }
    }

    /// Reads the data set, generating it first when the recipe describes a SynthReID set
    /// that is not on disk yet.
    /// Errors name the recipe key of the folder that failed (`rootKey`, or the
    /// `extra_train_roots[i]` beside it).
    public static func prepareData(_ c: DataConfig, rootKey: String = "data.root",
                                   log: (String) -> Void) throws -> (ReIDDataset, synthetic: Bool) {
        if let synth = c.synth { try generate(synth, at: c.root, log: log) }
        var options = ReaderOptions()
        options.cuhk03Labeled = c.cuhk03Labeled
        options.msmt17Val = c.msmt17Val
        func read(_ root: String, kind: DatasetKind?, key: String) throws -> ReIDDataset {
            do { return try DatasetReader.read(root: root, kind: kind, options: options) } catch {
                throw DatasetError("\(key): \(error)")
            }
        }
        var sets = [try read(c.root, kind: c.kind, key: rootKey)]
        for (i, extra) in c.extraTrainRoots.enumerated() {
            let key = (rootKey.hasSuffix(".root") ? String(rootKey.dropLast(5)) + "." : "") + "extra_train_roots[\(i)]"
            sets.append(try read(extra, kind: nil, key: key))
        }
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

    /// The network for `numClasses` identities (re-ID) or classes (classification), from
    /// the recipe's pretrained file when it names one: a file carrying an architecture (a
    /// possibly pruned reidprune model, re-ID or classification) gives that architecture;
    /// a torchvision/timm file loads into the recipe's. The file's head loads when it is
    /// the recipe's (same task and classes: a torchvision ImageNet file's `fc` in a
    /// 1000-class classification run); otherwise the backbone alone loads and the head
    /// is new (a classification model's `fc` is dropped for re-ID).
    public static func buildNet(_ m: ModelConfig, numClasses: Int, seed: UInt64) throws -> ReIDNet {
        var head = m.head
        head.numClasses = numClasses
        guard let path = m.pretrained else {
            return try ReIDNet(architecture: m.architecture, head: head, seed: seed, zeroInitResidual: m.zeroInitResidual)
        }
        return try namingPretrained { try pretrainedNet(m, path: path, head: head, seed: seed) }
    }

    /// The network of `buildNet` from `model.pretrained` (`path`).
    static func pretrainedNet(_ m: ModelConfig, path: String, head: HeadConfig, seed: UInt64) throws -> ReIDNet {
        let numClasses = head.numClasses
        let file = try SafetensorsFile(path: path)
        let (arch, savedHead) = try pretrainedArchitecture(m, file: file)
        let net = try ReIDNet(architecture: arch, head: head, seed: seed)
        let sameHead: Bool
        if let savedHead {
            // The same identities (a model trained on this data): everything, classifier included.
            sameHead = savedHead == head
        } else {
            // A torchvision/timm file: its `fc` when the recipe classifies as many classes.
            sameHead = head.task == .classification && file.entry("fc.weight")?.shape == [numClasses, arch.featureDim]
                && file.entry("fc.bias")?.shape == [numClasses]
        }
        try ModelWeights.load(file, into: net, match: sameHead ? .strict : .backbone, ignoring: ["optimizer.", "center_loss."])
        return net
    }

    /// `body`, which reads `model.pretrained`, with its error named by the key.
    public static func namingPretrained<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            let text = "\(error)"
            throw text.hasPrefix("model.pretrained") ? error : WeightsError("model.pretrained: \(text)")
        }
    }

    /// The architecture a pretrained file gives a run (the (possibly pruned) one a
    /// reidprune model carries, else the recipe's) and the head it carries, if any. A model
    /// made for the other task keeps its widths and takes the recipe's last stride (a
    /// classification model has torchvision's 2, re-ID recipes usually 1).
    static func pretrainedArchitecture(_ m: ModelConfig, file: SafetensorsFile) throws -> (ResNetArchitecture, HeadConfig?) {
        guard let (saved, head) = try ModelWeights.architecture(of: file) else { return (m.architecture, nil) }
        guard saved.depthName == m.archName else {
            throw WeightsError("model.pretrained '\(file.path)' holds a (possibly pruned) \(saved.depthName), not the "
                               + "model.arch \(m.archName) of the recipe")
        }
        // An unpruned model's stem is its base width: a recipe asking for another would train
        // the file's widths while its config.yaml says otherwise.
        if try PrunePlan.history(in: file.metadata).isEmpty, saved.stemWidth != m.architecture.stemWidth {
            throw WeightsError("model.pretrained '\(file.path)' holds a \(saved.depthName) of base width \(saved.stemWidth), "
                               + "not the model.base_width \(m.baseWidth) of the recipe")
        }
        var arch = saved
        if head.task != m.head.task, arch.stages.count == 4, !arch.stages[3].blocks.isEmpty {
            arch.stages[3].blocks[0].stride = m.lastStride
        }
        return (arch, head)
    }

    /// Loads `m.pretrained`'s backbone into a network of the architecture a run would
    /// start from, and throws what that run would (a missing key, a wrong shape, a
    /// non-finite value) before anything trains; nothing is kept.
    public static func checkPretrained(_ m: ModelConfig) throws {
        guard let path = m.pretrained else { return }
        let file = try SafetensorsFile(path: path)
        let net = try ReIDNet(architecture: try pretrainedArchitecture(m, file: file).0, head: HeadConfig(bnneck: false))
        try ModelWeights.load(file, into: net, match: .backbone, ignoring: ["optimizer.", "center_loss."])
    }

    /// The architecture a run starts from: the one a pretrained reidprune model carries
    /// (possibly pruned), else the recipe's.
    public static func startArchitecture(_ m: ModelConfig) throws -> ResNetArchitecture {
        guard let path = m.pretrained else { return m.architecture }
        return try pretrainedArchitecture(m, file: try SafetensorsFile(path: path)).0
    }

    /// `startArchitecture` of this recipe, read on every rank; a problem with
    /// `model.pretrained` is reported once, named by the key.
    /// - Important: Collective — every rank calls this, in the same order.
    func startArchitecture() throws -> ResNetArchitecture {
        try comm.onEveryRank { try Experiment.namingPretrained { try Experiment.startArchitecture(config.model) } }
    }

    /// The pruning rounds the recipe's pretrained model went through (empty without one,
    /// or for a torchvision/timm file); the run's model file carries them on.
    public static func pretrainedHistory(_ m: ModelConfig) throws -> [PrunePlan] {
        guard let path = m.pretrained else { return [] }
        return try PrunePlan.history(in: try SafetensorsFile(path: path).metadata)
    }

    /// The data set, generated by the root when needed (the others wait for it).
    /// - Important: Collective — every rank calls this, in the same order.
    public func prepareData() throws -> (ReIDDataset, synthetic: Bool) {
        if let synth = config.data.synth {
            // Every rank: a stop signal while the root generates ends the generation.
            // Root-only work of any length: not watched.
            try comm.unwatched {
                try StopSignals.generatingData { try comm.onRoot { try Self.generate(synth, at: config.data.root, log: log) } }
            }
        }
        var data = config.data
        data.synth = nil
        // Every rank reads the data set; a problem with it is reported once.
        return try comm.onEveryRank { try Experiment.prepareData(data, log: log) }
    }

    /// The evaluation of this recipe's data set across ranks.
    public func evaluator(_ dataset: ReIDDataset) -> DistributedEvaluator {
        DistributedEvaluator(dataset: dataset, eval: config.eval, augment: config.data.augment,
                             maxImagePixels: config.data.loader.maxImagePixels, comm: comm)
    }

    /// Trains and evaluates a re-ID recipe: recipe -> data -> network -> session (with its
    /// hooks) -> result (`train` runs either task). A run folder holding a checkpoint is resumed from it. The root holds the
    /// run folder's lock for the whole run.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func run(resume: Bool = true) throws -> RunResult {
        guard config.task == .reid else {
            throw ConfigError("task: the recipe trains classification; run it with Experiment.train")
        }
        let lock = try startingUp { try lockRunFolder() }
        return try withExtendedLifetime(lock) { try runLocked(resume: resume) }
    }

    /// Runs `body`, part of a run's start (the folder's lock, the data set, the checkpoint,
    /// the model's broadcast and the replicas' check), with its collectives watched as
    /// "start-up" under the recipe's `distributed.timeout_s`, so that a rank that stalls
    /// before training ends the job as one that stalls in a step does.
    /// - Important: Collective — every rank calls this, in the same order.
    func startingUp<T>(_ body: () throws -> T) rethrows -> T {
        comm.watch.timeoutSeconds = config.train.distributed.timeoutSeconds
        return try comm.watched("start-up", body)
    }

    /// The run folder's lock, taken by the root (nil elsewhere), with the leftovers of a
    /// stopped run cleaned up.
    /// - Important: Collective — every rank calls this, in the same order.
    func lockRunFolder() throws -> RunLock? {
        var lock: RunLock?
        try comm.onRoot {
            let l = try RunLock(folder: config.runDirectory)
            if let dead = l.tookOverFrom { log("run.dir '\(config.runDirectory)': took over the lock left by \(dead)") }
            let stale = l.removeStaleTemporaries()
            if !stale.isEmpty { log("run.dir '\(config.runDirectory)': removed \(stale.count) temporary file(s) left by a stopped run") }
            lock = l
        }
        return lock
    }

    /// - Important: Collective — every rank calls this, in the same order.
    private func runLocked(resume: Bool) throws -> RunResult {
        let c = config
        // Watched as "start-up" until the training session is ready (the data generation
        // excepted: root-only work of any length).
        // (run() set the recipe's timeout when it took the folder's lock.)
        let outer = comm.watch.phase
        defer { comm.watch.phase = outer }
        comm.watch.phase = "start-up"
        let (dataset, synthetic) = try prepareData()
        log(dataset.summary + (synthetic ? " (synthetic)" : ""))
        let checkpoint = c.runDirectory + "/checkpoint.safetensors"
        let resuming = try resume && comm.broadcast(FileManager.default.fileExists(atPath: checkpoint))
        if resume && !resuming { try refuseFinishedRunWithoutCheckpoint() }
        let loader = try makeLoader(dataset)
        defer { loader.shutdown() }
        let changes = resuming ? try checkResume(checkpoint, perRankStream: loader.perRankStream,
                                                 batches: loader.batches(inEpoch:)) : []
        let startArch = try startArchitecture()
        let unprunedFLOPs = FLOPsCounter.count(startArch, height: c.data.augment.height, width: c.data.augment.width).flops
        let net = try network(numClasses: dataset.numTrainPids, resumingFrom: resuming ? checkpoint : nil)
        let trainer = try Trainer(net: net, source: loader, config: c.train, runDirectory: c.runDirectory, comm: comm)
        try startOrResume(trainer, checkpoint: resuming ? checkpoint : nil, changes: changes)
        // Written once the run is sure to go on, so a refused start leaves the folder as it was.
        try comm.onRoot { try AtomicFile.write(Data(c.yaml.utf8), to: c.runDirectory + "/config.yaml") }
        if comm.size > 1 {
            log("\(comm.size) ranks, global batch \(loader.sampler.batchSize), \(loader.sampler.batchSize / comm.size) images per rank, "
                + "SyncBN \(c.train.distributed.syncBN ? "on" : "off"), gradient sync \(c.train.distributed.syncMode.rawValue)"
                + (c.train.distributed.gradientPrecision == .bf16 ? " in bf16" : ""))
        }
        comm.watch.phase = outer
        let evaluator = evaluator(dataset)
        try registerHooks(trainer, source: loader, evaluator: evaluator, start: startArch, unprunedFLOPs: unprunedFLOPs,
                          synthetic: synthetic, schedule: c.prune)
        let start = Date()
        try trainer.train()
        let seconds = Date().timeIntervalSince(start)
        let skipped = trainer.state.skippedSteps
        try trainer.countReplacedImages()
        let skippedImages = trainer.state.replacedImages
        log("trained \(trainer.trainedAmount)" + String(format: " in %.0f s; data loader waited %.1f s over %d batches",
                   seconds, loader.waitSeconds, loader.batchesServed)
            + (skipped > 0 ? "; skipped \(skipped) step(s) with non-finite loss or gradients (train.on_nonfinite: skip)" : "")
            + (skippedImages > 0 ? "; replaced \(skippedImages) unreadable training image(s) (data.skip_corrupt)" : ""))
        return try finish(trainer, evaluator: evaluator, dataset: dataset, synthetic: synthetic, seconds: seconds,
                          skippedImages: skippedImages)
    }

    /// Throws when run.dir holds a finished run (results.json) without its checkpoint: a
    /// run from scratch would overwrite its results (`--fresh` asks for that).
    /// - Important: Collective — every rank calls this, in the same order.
    func refuseFinishedRunWithoutCheckpoint() throws {
        let dir = config.runDirectory
        try comm.onRoot {
            guard !FileManager.default.fileExists(atPath: dir + "/results.json") else {
                throw ConfigError("run.dir '\(dir)' holds a finished run (results.json) but no checkpoint.safetensors to "
                                  + "resume from; pass --fresh to train it again there, or choose another run.dir")
            }
        }
    }

    /// Resumes `trainer` from `checkpoint` (logging the recipe changes), or starts it with
    /// the pruning history its pretrained model carries (the metrics log then starts empty:
    /// rows of an earlier start that left no checkpoint are dropped); records the recipe and
    /// notes what the log lost (a partial last line, rows before the checkpoint).
    /// - Important: Collective — every rank calls this, in the same order.
    func startOrResume(_ trainer: Trainer, checkpoint: String?, changes: [ResumeCheck.Change]) throws {
        defer {
            if let metrics = trainer.log {
                if metrics.partialLineDropped > 0 {
                    log("\(metrics.path): dropped a partial last line (\(metrics.partialLineDropped) bytes)")
                }
                if metrics.missingBytes > 0 {
                    log("\(metrics.path): \(metrics.missingBytes) bytes shorter than the checkpoint recorded; rows "
                        + "logged before it are missing")
                }
            }
        }
        if checkpoint == nil, let metrics = trainer.log, metrics.size > 0 {
            try metrics.truncate(to: 0)
            log("\(metrics.path): dropped the rows of an earlier start that left no checkpoint")
        }
        if let checkpoint {
            try trainer.resume(from: checkpoint)
            let rounds = trainer.state.pruningHistory.count
            // Numbered as the stop line numbers it: the epoch in progress, 1-based.
            let s = trainer.state
            let place = s.batchInEpoch > 0 ? "in epoch \(s.lastStepEpoch) after iteration \(s.iteration)"
                : "after epoch \(s.epoch) (iteration \(s.iteration))"
            log("resumed from \(checkpoint) \(place)" + (rounds == 0 ? "" : " and \(rounds) pruning round(s)"))
            if !changes.isEmpty {
                log("resumed with changed " + changes.map { "\($0.key) (\($0.old) -> \($0.new))" }.joined(separator: ", "))
                try trainer.log?.write(["event": "resume", "epoch": trainer.state.epoch, "iteration": trainer.state.iteration,
                                        "changed": Dictionary(uniqueKeysWithValues: changes.map { ($0.key, [$0.old, $0.new]) })])
            }
        } else {
            trainer.state.inheritedHistory = try comm.onRoot { try Experiment.pretrainedHistory(config.model) }
            let rounds = trainer.state.inheritedHistory.count
            if rounds > 0 { log("model.pretrained went through \(rounds) pruning round(s); the history carries over") }
        }
        trainer.state.recipe = config.yaml
    }

    /// The changes between the checkpoint's recipe and this one, all safe; throws (on
    /// every rank, before anything is written) naming the keys whose change would break
    /// exact resumption (a changed rank count included, when the data source reads per rank),
    /// or `train.epochs` when it is below the epochs the checkpoint has trained (or has begun), or when the
    /// checkpoint's place lies past the end of its epoch's `batches`.
    /// - Important: Collective — every rank calls this, in the same order.
    func checkResume(_ checkpoint: String, perRankStream: Bool, batches: (Int) -> Int) throws -> [ResumeCheck.Change] {
        try comm.onRoot { () -> [ResumeCheck.Change] in
            let state = try Checkpoint.state(at: checkpoint)
            let epochs = config.train.epochs
            guard state.epoch <= epochs else {
                throw ConfigError("train.epochs: \(epochs) is below the \(state.epoch) epochs that \(checkpoint) has trained; "
                                  + "give at least \(state.epoch) to go on from it, or another run.dir")
            }
            // A checkpoint inside an epoch holds some of its steps: stopping before that epoch
            // would call a model that trained longer one of `epochs` epochs.
            guard state.batchInEpoch == 0 || state.epoch < epochs else {
                throw ConfigError("train.epochs: \(epochs) ends before epoch \(state.epoch + 1), which \(checkpoint) has "
                                  + "begun (\(state.batchInEpoch) of its batches trained); give at least \(state.epoch + 1) "
                                  + "to go on from it, or another run.dir")
            }
            if state.epoch < epochs && state.batchInEpoch > batches(state.epoch) {
                throw WeightsError("\(checkpoint): training state 'batchInEpoch' is \(state.batchInEpoch), past the "
                                   + "\(batches(state.epoch)) batches of epoch \(state.epoch + 1)")
            }
            guard let saved = state.recipe else {
                log("\(checkpoint): written before checkpoints carried their recipe; resuming unchecked")
                return []
            }
            return try ResumeCheck.check(saved: saved, current: config.yaml, checkpoint: checkpoint,
                                         ranks: (state.ranks, comm.size), perRankStream: perRankStream)
        }
    }

    /// The network to train: when resuming, of the (possibly pruned) architecture the
    /// checkpoint carries (its weights come with the checkpoint); else from the recipe.
    /// - Important: Collective — every rank calls this, in the same order.
    func network(numClasses: Int, resumingFrom checkpoint: String?) throws -> ReIDNet {
        guard let checkpoint else {
            // Every rank reads model.pretrained; a problem with it is reported once.
            return try comm.onEveryRank { try Experiment.buildNet(config.model, numClasses: numClasses, seed: config.seed) }
        }
        let arch = try comm.onRoot { try Checkpoint.architecture(at: checkpoint) }
        guard arch.depthName == config.model.archName else {
            throw ConfigError("\(checkpoint) holds a (possibly pruned) \(arch.depthName), not the \(config.model.archName) "
                              + "of model.arch; nothing was loaded")
        }
        var head = config.model.head
        head.numClasses = numClasses
        return try ReIDNet(architecture: arch, head: head, seed: config.seed)
    }

    /// This rank's training loader; a sampler or loader every rank refuses is reported once.
    /// - Important: Collective — every rank calls this, in the same order.
    func makeLoader(_ dataset: ReIDDataset) throws -> DataLoader {
        let d = config.data
        return try comm.onEveryRank({
            let sampler: BatchSampler = d.identitySampler
                ? try IdentitySampler(pids: dataset.train.map(\.pid), identities: d.identities, instances: d.instances,
                                      seed: config.seed)
                : try ShuffleSampler(count: dataset.train.count, batchSize: d.batchSize, seed: config.seed)
            return try DataLoader(records: dataset.train, labelMap: dataset.labelMap, sampler: sampler, augment: d.augment,
                                  options: d.loader, rank: comm.rank, world: comm.size)
        }, discard: { $0.shutdown() })
    }

    /// Evaluation during training, the pruning schedule and its training-time criterion.
    /// `start`: the architecture the run started from (`startArchitecture()`), whose FLOPs
    /// are `unprunedFLOPs`.
    func registerHooks(_ trainer: Trainer, source: BatchSource, evaluator: ModelEvaluator, start: ResNetArchitecture,
                       unprunedFLOPs: Int, synthetic: Bool, schedule: PruneSchedule?) throws {
        if let schedule, trainer.state.pruningHistory.isEmpty, TrainingTimeCriterionHook.needed(schedule) {
            trainer.register(try TrainingTimeCriterionHook(schedule: schedule, net: trainer.net))
        }
        trainer.register(EvaluationHook(evaluator: evaluator, every: config.eval.every, synthetic: synthetic, say: log))
        if let schedule {
            trainer.register(PruneScheduleHook(schedule: schedule, start: start,
                                               head: trainer.net.headConfig, unprunedFLOPs: unprunedFLOPs, source: source,
                                               evaluator: evaluator, synthetic: synthetic, say: log))
        }
    }

    /// The final evaluation, model.safetensors (with its pruning history), results.json and report.html.
    /// - Important: Collective — every rank calls this, in the same order.
    func finish(_ trainer: Trainer, evaluator: DistributedEvaluator, dataset: ReIDDataset, synthetic: Bool,
                seconds: Double, skippedImages: Int) throws -> RunResult {
        let c = config
        try trainer.averageRunningStatistics()
        try trainer.requireFiniteState(before: "model.safetensors")
        let m = try evaluator.evaluate(trainer.net)
        try trainer.log?.write(m.logFields(epoch: trainer.state.epoch))
        log(m.summary("final", synthetic: synthetic))
        let cost = FLOPsCounter.count(trainer.net.architecture, head: trainer.net.headConfig, height: c.data.augment.height,
                                      width: c.data.augment.width)
        let result = RunResult(dataset: dataset.name, synthetic: synthetic, arch: c.model.archName, params: cost.params,
                               gflops: Double(cost.flops) / 1e9, epochs: trainer.state.epoch, rank1: m.rank(1),
                               rank5: m.rank(5), rank10: m.rank(10), rank20: m.rank(20), mAP: m.mAP, mINP: m.mINP,
                               numValidQueries: m.numValidQueries, trainSeconds: seconds,
                               precision: c.train.precision.rawValue, skippedImages: skippedImages > 0 ? skippedImages : nil,
                               iterations: trainer.iterationsIfCut)
        try comm.onRoot {
            try writeRunFiles(trainer, synthetic: synthetic, result: result) { try RunPage.write($0, directory: c.runDirectory) }
        }
        return result
    }

    /// Writes the run folder's model.safetensors (with the model's full pruning history, the
    /// synthetic flag and `metadata`), results.json and report.html (`page`). Root only.
    func writeRunFiles<R: Encodable>(_ trainer: Trainer, synthetic: Bool, metadata: [String: String] = [:], result: R,
                                     page: (R) throws -> Void) throws {
        var meta = try PrunePlan.metadata(for: trainer.state.fullHistory)
        meta["synthetic"] = synthetic ? "true" : "false"
        let size = config.task == .classification
            ? (config.classificationData.transform.size, config.classificationData.transform.size)
            : (config.data.augment.height, config.data.augment.width)
        meta.merge(ModelWeights.inputSizeMetadata(height: size.0, width: size.1)) { _, new in new }
        meta.merge(metadata) { _, new in new }
        try ModelWeights.save(trainer.net, to: config.runDirectory + "/model.safetensors", metadata: meta)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(result), to: config.runDirectory + "/results.json")
        try page(result)
    }
}

extension Experiment {
    /// Metrics of a saved model on this recipe's data set (`reidprune eval`).
    /// - Important: Collective — every rank calls this, in the same order.
    public func evaluate(weights: String) throws -> (metrics: ReIDMetrics, synthetic: Bool) {
        // The model first: a wrong file is named before a synthetic set is generated.
        // Every rank reads the file; a problem with it is reported once.
        let net = try comm.onEveryRank {
            try config.train.precision.requireSupported(key: "train.precision")
            return try ModelWeights.loadNet(weights, expected: config.model.archName)
        }
        net.precision = config.train.precision
        let (dataset, synthetic) = try prepareData()
        return (try evaluator(dataset).evaluate(net), synthetic)
    }
}
