// ExperimentConfig: a whole recipe, typed: model, data (with an optional SynthReID
// generation step), training, evaluation and run settings, read from a ConfigFile so
// that every malformed or unknown key is reported with its file and name.
import Foundation
import NN
import Optim
import Pruning
import ReIDData
import ReIDEval

public struct ModelConfig: Sendable {
    public var architecture: ResNetArchitecture
    public var archName = "resnet50"
    public var head = HeadConfig()
    /// A safetensors file to start from (a torchvision/timm backbone or a reidprune model).
    public var pretrained: String?
    /// Start each block's last BN scale at zero (for training deep networks from scratch).
    public var zeroInitResidual = false
}

public struct DataConfig: Sendable {
    public var root = "data/synth/mall"
    public var kind: DatasetKind?
    /// More training sets combined with the first (pids namespaced per set).
    public var extraTrainRoots: [String] = []
    public var cuhk03Labeled = false
    /// Generate this SynthReID data set at `root` when it is missing.
    public var synth: SynthOptions?
    public var augment = AugmentConfig()
    public var identitySampler = true
    public var identities = 16
    public var instances = 4
    public var batchSize = 64
    public var loader = LoaderOptions()
}

public struct EvalConfig: Sendable {
    /// Evaluate every this many epochs during training (0: only at the end).
    public var every = 0
    public var metric = DistanceMetric.euclidean
    public var normalize = false
    public var flip = false
    public var rerank = false
    public var cuhk03 = false
    public var batchSize = 128
    public var maxRank = 50
}

/// An iterative pruning schedule inside a training run: `steps` rounds, the first after
/// `startEpoch` epochs and then every `every` epochs, each to target^(r / steps) of the
/// unpruned model's FLOPs, fine-tuning in between.
public struct PruneSchedule: Sendable {
    public var settings = PruneSettings()
    public var steps = 1
    public var startEpoch = 0
    public var every = 1
    /// Evaluate right before and right after each round.
    public var evaluate = true
    /// Auto-balanced regularizer strength.
    public var alpha: Float = 1e-3
    /// Network slimming's L1 penalty on the BN scales of prunable groups (0: off).
    public var bnL1: Float = 0
    /// Soft filter pruning's exponential rate constant.
    public var softK = 4.0

    /// The epochs after which rounds 1...steps run.
    public var epochs: [Int] { (0..<steps).map { startEpoch + $0 * every } }

    public func target(round r: Int) -> Double {
        pow(settings.ranking.targetFLOPs ?? 1, Double(r) / Double(steps))
    }
}

public struct ExperimentConfig: Sendable {
    public var model: ModelConfig
    public var data = DataConfig()
    public var train = TrainerConfig()
    public var eval = EvalConfig()
    public var prune: PruneSchedule?
    public var runDirectory = "runs/experiment"
    public var seed: UInt64 = 1
    /// The merged recipe as YAML, saved in the run folder.
    public var yaml = ""

    static func parsePrune(_ f: inout ConfigFile, _ c: ExperimentConfig) throws -> PruneSchedule {
        var p = PruneSchedule()
        let names = Dictionary(uniqueKeysWithValues: CriterionKind.allCases.map { ($0.rawValue, $0) })
        p.settings.criterion = try f.choice("prune.criterion", "taylor", names)
        p.settings.ranking.mode = try f.choice("prune.ranking", "global", ["global": RankingMode.global, "layerwise": .layerwise])
        p.settings.ranking.normalizer = try f.choice("prune.normalizer", "l2", Dictionary(uniqueKeysWithValues:
            Normalizer.allCases.map { ($0.rawValue, $0) }))
        p.settings.ranking.scope = try f.choice("prune.scope", "inner", ["inner": PruneScope.inner, "all": .all])
        let target = try f.double("prune.target_flops", 0.5)
        guard target > 0 && target <= 1 else { throw ConfigError("\(f.origin): key 'prune.target_flops': must be in (0, 1]") }
        p.settings.ranking.targetFLOPs = target
        // Or stop each round after removing this many channels (the FLOPs target then does not apply).
        if f.has("prune.remove_channels") {
            let n = try f.int("prune.remove_channels")
            guard n >= 1 else { throw ConfigError("\(f.origin): key 'prune.remove_channels': must be at least 1") }
            p.settings.ranking.removeChannels = n
            p.settings.ranking.targetFLOPs = nil
        }
        p.settings.ranking.floor = try f.double("prune.floor", 0)
        p.settings.ranking.roundTo = try f.int("prune.round_to", 1)
        p.settings.ranking.height = c.data.augment.height
        p.settings.ranking.width = c.data.augment.width
        p.settings.batches = try f.int("prune.batches", 20)
        p.settings.bins = try f.int("prune.bins", 32)
        p.settings.fold = try f.bool("prune.fold", true)
        p.settings.seed = c.seed
        p.steps = try f.int("prune.steps", 1)
        p.startEpoch = try f.int("prune.start_epoch", 0)
        p.every = try f.int("prune.every", 1)
        p.evaluate = try f.bool("prune.evaluate", true)
        p.alpha = Float(try f.double("prune.alpha", 1e-3))
        p.bnL1 = Float(try f.double("prune.bn_l1", 0))
        p.softK = try f.double("prune.soft_k", 4)
        if p.settings.criterion.trainsBeforeCut && p.steps != 1 {
            throw ConfigError("\(f.origin): key 'prune.steps': \(p.settings.criterion.rawValue) acts during training and "
                              + "cuts once at prune.start_epoch; set steps to 1")
        }
        guard p.steps >= 1, p.startEpoch >= 0, p.every >= 1, p.epochs.last! <= c.train.epochs else {
            throw ConfigError("\(f.origin): prune.steps/start_epoch/every: rounds must fall within train.epochs "
                              + "(\(c.train.epochs)); got start \(p.startEpoch), every \(p.every), steps \(p.steps)")
        }
        return p
    }

    static let archs: [String: ResNetArchitecture.Depth] = [
        "resnet18": .resnet18, "resnet34": .resnet34, "resnet50": .resnet50, "resnet101": .resnet101,
    ]

    /// Reads every section; fails on unknown keys when `strict`.
    public static func parse(_ file: ConfigFile, strict: Bool = true) throws -> ExperimentConfig {
        var f = file
        let archName = try f.string("model.arch", "resnet50")
        guard let depth = archs[archName] else {
            throw ConfigError("\(f.origin): key 'model.arch': '\(archName)' is not one of \(archs.keys.sorted().joined(separator: ", "))")
        }
        let baseWidth = try f.int("model.base_width", 64)
        let lastStride = try f.int("model.last_stride", 1)
        guard baseWidth >= 1, lastStride == 1 || lastStride == 2 else {
            throw ConfigError("\(f.origin): model.base_width must be positive and model.last_stride 1 or 2")
        }
        var model = ModelConfig(architecture: .resnet(depth, baseWidth: baseWidth, lastStride: lastStride), archName: archName)
        model.head.bnneck = try f.bool("model.bnneck", true)
        model.head.embeddingDim = try f.int("model.embedding_dim", 0)
        model.pretrained = try f.optionalString("model.pretrained")
        model.zeroInitResidual = try f.bool("model.zero_init_residual", false)
        var c = ExperimentConfig(model: model)
        c.seed = UInt64(try f.int("run.seed", 1))
        c.runDirectory = try f.string("run.dir", "runs/experiment")

        // data
        c.data.root = try f.string("data.root")
        let kind = try f.string("data.kind", "auto")
        if kind != "auto" {
            guard let k = DatasetKind(rawValue: kind) else {
                throw ConfigError("\(f.origin): key 'data.kind': '\(kind)' is not one of auto, "
                                  + DatasetKind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            c.data.kind = k
        }
        c.data.extraTrainRoots = try f.strings("data.extra_train_roots", [])
        c.data.cuhk03Labeled = try f.bool("data.cuhk03_labeled", false)
        if f.has("data.synth") {
            var s = SynthOptions()
            s.domain = try f.string("data.synth.domain", s.domain)
            s.ids = try f.int("data.synth.ids", s.ids)
            s.cameras = try f.int("data.synth.cameras", s.cameras)
            s.imagesPerId = try f.int("data.synth.images_per_id", s.imagesPerId)
            s.seed = UInt64(try f.int("data.synth.seed", Int(s.seed)))
            s.height = try f.int("data.synth.height", s.height)
            s.width = try f.int("data.synth.width", s.width)
            s.lookAlikes = try f.double("data.synth.look_alikes", s.lookAlikes)
            try s.validate()
            c.data.synth = s
        }
        var a = AugmentConfig()
        a.height = try f.int("data.height", 256)
        a.width = try f.int("data.width", 128)
        a.flipProbability = try f.double("data.augment.flip", a.flipProbability)
        a.padding = try f.int("data.augment.padding", a.padding)
        a.erasingProbability = try f.double("data.augment.erasing", a.erasingProbability)
        a.brightness = try f.double("data.augment.brightness", 0)
        a.contrast = try f.double("data.augment.contrast", 0)
        a.saturation = try f.double("data.augment.saturation", 0)
        try a.validate()
        c.data.augment = a
        c.data.identitySampler = try f.choice("data.sampler", "identity", ["identity": true, "shuffle": false])
        c.data.identities = try f.int("data.identities", 16)
        c.data.instances = try f.int("data.instances", 4)
        c.data.batchSize = try f.int("data.batch_size", 64)
        c.data.loader.workers = try f.int("data.workers", 2)
        c.data.loader.prefetch = try f.int("data.prefetch", 3)
        c.data.loader.skipCorrupt = try f.bool("data.skip_corrupt", false)
        c.data.loader.seed = c.seed

        // train
        var t = TrainerConfig()
        t.epochs = try f.int("train.epochs", t.epochs)
        t.optimizer = try f.choice("train.optimizer", "adam", ["sgd": .sgd, "adam": .adam, "adamw": .adamw])
        let lr = try f.double("train.lr", 3.5e-4)
        let warmup = try f.double("train.warmup_epochs", 10)
        let warmupFactor = try f.double("train.warmup_factor", 0.01)
        let decay: LRSchedule.Decay
        switch try f.string("train.schedule", "multistep") {
        case "multistep":
            decay = .multiStep(milestones: try f.ints("train.milestones", [40, 70]), gamma: try f.double("train.gamma", 0.1))
        case "cosine":
            decay = .cosine(totalEpochs: t.epochs, minimum: try f.double("train.min_lr", 0))
        case "constant":
            decay = .constant
        case let other:
            throw ConfigError("\(f.origin): key 'train.schedule': '\(other)' is not one of constant, cosine, multistep")
        }
        t.schedule = LRSchedule(base: lr, warmupEpochs: warmup, warmupFactor: warmupFactor, decay: decay)
        t.momentum = Float(try f.double("train.momentum", 0.9))
        t.nesterov = try f.bool("train.nesterov", false)
        t.weightDecay = Float(try f.double("train.weight_decay", 5e-4))
        t.decayNormAndBias = try f.bool("train.decay_norm_and_bias", true)
        t.crossEntropyWeight = Float(try f.double("train.loss.cross_entropy", 1))
        t.labelSmoothing = Float(try f.double("train.loss.label_smoothing", 0.1))
        t.tripletWeight = Float(try f.double("train.loss.triplet", 1))
        t.tripletMargin = Float(try f.double("train.loss.triplet_margin", 0.3))
        t.softMargin = try f.bool("train.loss.soft_margin", false)
        t.contrastiveWeight = Float(try f.double("train.loss.contrastive", 0))
        t.contrastiveMargin = Float(try f.double("train.loss.contrastive_margin", 1))
        t.centerWeight = Float(try f.double("train.loss.center", 0))
        t.checkpointEvery = try f.int("train.checkpoint_every", 10)
        t.logEvery = try f.int("train.log_every", 10)
        t.checkpointIterations = try f.int("train.checkpoint_iterations", 0)
        t.progress = try f.bool("train.progress", true)
        t.maxIterations = try f.int("train.max_iterations", 0)
        t.divergenceFactor = try f.double("train.divergence_factor", t.divergenceFactor)
        t.onNonFinite = try f.choice("train.on_nonfinite", "stop", ["stop": .stop, "skip": .skip])
        t.seed = c.seed
        t.distributed.syncBN = try f.bool("distributed.sync_bn", false)
        t.distributed.syncMode = try f.choice("distributed.sync_mode", "blocking",
                                              ["blocking": SyncMode.blocking, "overlapped": .overlapped])
        t.distributed.bucketBytes = Int(try f.double("distributed.bucket_mb", 25) * 1_048_576)
        t.distributed.checksumEvery = try f.int("distributed.checksum_every", 100)
        try t.validate()
        c.train = t

        // eval
        c.eval.every = try f.int("eval.every", 0)
        c.eval.metric = try f.choice("eval.metric", "euclidean", ["euclidean": .euclidean, "cosine": .cosine])
        c.eval.normalize = try f.bool("eval.normalize", false)
        c.eval.flip = try f.bool("eval.flip", false)
        c.eval.rerank = try f.bool("eval.rerank", false)
        c.eval.cuhk03 = try f.bool("eval.cuhk03", false)
        c.eval.batchSize = try f.int("eval.batch_size", 128)
        c.eval.maxRank = try f.int("eval.max_rank", 50)

        if f.has("prune") { c.prune = try parsePrune(&f, c) }
        c.yaml = f.yaml()
        if strict {
            f.markUsed(prefix: "scenario")
            try f.rejectUnknownKeys()
        }
        return c
    }
}
