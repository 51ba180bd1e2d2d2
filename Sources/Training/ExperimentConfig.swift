// ExperimentConfig: a whole recipe, typed: model, data (with an optional SynthReID
// generation step), training, evaluation, pruning and run settings. Each section reads
// itself from a ConfigFile with the defaults of its property declarations, so every
// malformed or unknown key is reported with its file and name, and the configuration
// renders the YAML recipe that reproduces it (saved in the run folder).
import Foundation
import NN
import Optim
import Pruning
import ReIDData
import ReIDEval

public struct ModelConfig: Sendable, Equatable {
    public var depth = ResNetArchitecture.Depth.resnet50
    /// Scales every width (64 is torchvision's).
    public var baseWidth = 64
    /// 1 keeps layer4 at layer3's resolution, as re-ID models usually do.
    public var lastStride = 1
    public var head = HeadConfig()
    /// A safetensors file to start from (a torchvision/timm backbone or a reidprune model).
    public var pretrained: String?
    /// Start each block's last BN scale at zero (for training deep networks from scratch).
    public var zeroInitResidual = false

    public init() {}

    public var archName: String { depth.name }
    public var architecture: ResNetArchitecture { .resnet(depth, baseWidth: baseWidth, lastStride: lastStride) }
}

extension ModelConfig: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.choice("arch", &depth, ResNetArchitecture.Depth.allCases.map { ($0.name, $0) })
        try k.int("base_width", &baseWidth)
        try k.check(baseWidth, in: 1...1024, "base_width")
        try k.int("last_stride", &lastStride)
        try k.check(lastStride == 1 || lastStride == 2, "last_stride", "must be 1 or 2, got \(lastStride)")
        try k.bool("bnneck", &head.bnneck)
        try k.int("embedding_dim", &head.embeddingDim)
        try k.check((0...ResNetArchitecture.maxWidth).contains(head.embeddingDim), "embedding_dim",
                    "must be 0 (none) to \(ResNetArchitecture.maxWidth), got \(head.embeddingDim)")
        if head.task == .classification {
            try k.check(!head.bnneck, "bnneck", "a classification model has torchvision's fc head, no BNNeck "
                        + "(task: classification); set it to false")
            try k.check(head.embeddingDim == 0, "embedding_dim", "a classification model has no embedding layer "
                        + "(task: classification); set it to 0")
        }
        try k.optionalString("pretrained", &pretrained)
        try k.bool("zero_init_residual", &zeroInitResidual)
    }
}

public struct EvalConfig: Sendable, Equatable {
    /// Evaluate every this many epochs during training (0: only at the end).
    public var every = 0
    public var metric = DistanceMetric.euclidean
    public var normalize = false
    public var flip = false
    public var rerank = false
    public var cuhk03 = false
    public var batchSize = 128
    public var maxRank = 50

    public init() {}
}

extension EvalConfig: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.int("every", &every)
        try k.choice("metric", &metric)
        try k.bool("normalize", &normalize)
        try k.bool("flip", &flip)
        try k.bool("rerank", &rerank)
        try k.bool("cuhk03", &cuhk03)
        try k.int("batch_size", &batchSize)
        try k.int("max_rank", &maxRank)
        try k.check(every >= 0, "every", "must be at least 0 (0: only at the end), got \(every)")
        try k.check(batchSize >= 1, "batch_size", "must be at least 1, got \(batchSize)")
        try k.check(maxRank >= 1, "max_rank", "must be at least 1, got \(maxRank)")
    }
}

public struct ExperimentConfig: Sendable {
    /// re-ID (the default) or classification pretraining (`task: classification`).
    public var task = HeadTask.reid
    public var model = ModelConfig()
    /// The re-ID data section (task: reid).
    public var data = DataConfig()
    /// The classification data section (task: classification): the recipe's `data:` then.
    public var classificationData = ClassificationDataConfig()
    public var train = TrainerConfig()
    public var eval = EvalConfig()
    public var prune: PruneSchedule?
    public var runDirectory = "runs/experiment"
    public var seed: UInt64 = 1

    public init() {}

    /// The recipe as YAML, every key spelled out (defaults included): reading it back
    /// gives this configuration. Saved in the run folder as config.yaml.
    public var yaml: String { RecipeCoder.yaml(of: self) }

    /// Reads every section of a training recipe (`data.root` is required); fails on
    /// unknown keys when `strict` (a `scenario:` section is left to the scenario).
    public static func parse(_ file: ConfigFile, strict: Bool = true) throws -> ExperimentConfig {
        var k = RecipeCoder(reading: file)
        var c = ExperimentConfig()
        try c.code(&k)
        try c.checkTrainingRun(k)
        if strict { try k.rejectUnknownKeys(ignoring: "scenario") }
        return c
    }

    /// What a training run needs beyond well-formed sections (a scenario recipe's own
    /// sections need neither: its stages set the data and the pruning rounds).
    func checkTrainingRun(_ k: RecipeCoder) throws {
        try k.check(!(task == .classification ? classificationData.root : data.root).isEmpty, "data.root", "missing")
        if task == .classification {
            for (key, weight) in [("triplet", train.tripletWeight), ("contrastive", train.contrastiveWeight),
                                  ("center", train.centerWeight)] where weight != 0 {
                throw k.fail("train.loss.\(key)", "a classification run trains with cross-entropy alone; set it to 0 "
                             + "(task: classification)")
            }
            try k.check(train.crossEntropyWeight > 0, "train.loss.cross_entropy", "must be positive in a classification run")
        }
        if let p = prune, !(p.steps >= 1 && p.startEpoch >= 0 && p.every >= 1 && p.epochs.last! <= train.epochs) {
            throw ConfigError("\(k.origin): prune.steps/start_epoch/every: rounds must fall within train.epochs "
                              + "(\(train.epochs)); got start \(p.startEpoch), every \(p.every), steps \(p.steps)")
        }
    }

    /// Makes the classification defaults the starting point of the sections read next:
    /// torchvision's ResNet (last stride 2, `fc` head) and its ImageNet training recipe
    /// (`TrainerConfig.classification`); the `distributed:` options stay.
    public mutating func useClassificationDefaults() {
        task = .classification
        model.lastStride = 2
        model.head = .classification(numClasses: 0)
        let distributed = train.distributed
        train = .classification
        train.distributed = distributed
    }

    /// Sets the values a recipe does not spell out but derives from other keys: the
    /// seeds of the loader, the trainer and the pruning rounds (run.seed), the pruning
    /// input size (data.height/width, or data.transform.size for classification) and a cosine schedule's length (train.epochs).
    /// Reading calls it; call it again after editing those keys.
    public mutating func deriveDependentValues() {
        data.loader.seed = seed
        train.seed = seed
        if case let .cosine(_, minimum) = train.schedule.decay {
            train.schedule.decay = .cosine(totalEpochs: train.epochs, minimum: minimum)
        }
        prune?.settings.seed = seed
        prune?.settings.ranking.height = task == .classification ? classificationData.transform.size : data.augment.height
        prune?.settings.ranking.width = task == .classification ? classificationData.transform.size : data.augment.width
    }
}

extension ExperimentConfig: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        let before = task
        try k.choice("task", &task)
        if k.isReading && task == .classification && before != .classification { useClassificationDefaults() }
        try k.section("model", &model)
        if task == .classification {
            try k.section("data", &classificationData)
        } else {
            try k.section("data", &data)
        }
        try k.section("train", &train)
        try k.section("distributed", &train.distributed)
        try k.section("eval", &eval)
        try k.section("prune", &prune)
        try k.string("run.dir", &runDirectory)
        try k.uint64("run.seed", &seed)
        if k.isReading { deriveDependentValues() }
    }
}
