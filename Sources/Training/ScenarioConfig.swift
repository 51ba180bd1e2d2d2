// ScenarioConfig: a scenario recipe, typed: the recipe's own sections (what every stage
// starts from), the source (a re-ID data section read over the recipe's `data:`, or a
// classification pretraining stage) and the target data sections,
// the epochs of each kind of stage, the criteria, scenarios and baselines. A stage's
// ExperimentConfig is a copy of the recipe's with typed edits; its `yaml` reproduces it.
import Foundation
import NN
import Pruning

public struct ScenarioConfig: Sendable {
    /// The recipe without its `scenario:` section; `data.root` may be absent.
    public var base = ExperimentConfig()
    /// The source set, and the target sets (the first is fine-tuned on, every one is
    /// evaluated on): data sections over the recipe's own.
    public var source = DataConfig()
    /// The source as a classification pretraining stage (`source: {task: classification,
    /// ...}`); nil: a re-ID source (`source`).
    public var classificationSource: ClassificationSourceStage?
    public var targets: [DataConfig] = []
    public var sourceEpochs = 10
    public var targetEpochs = 5
    public var retrainEpochs = 3
    public var criteria: [CriterionKind] = [.taylor, .l1]
    public var scenarios = [1, 2, 3, 4]
    /// Architectures trained the same way, unpruned, for comparison.
    public var baselines: [ResNetArchitecture.Depth] = []
    public var targetFLOPs = 0.5
    /// A model to start the source stage from instead of the recipe's `model.pretrained`.
    public var sourcePretrained: String?
    public var directory = "runs/scenario"

    public init() {}

    /// Reads the recipe's sections and its `scenario:` section; fails on unknown keys.
    public static func parse(_ file: ConfigFile) throws -> ScenarioConfig {
        var k = RecipeCoder(reading: file)
        var c = ScenarioConfig()
        try c.code(&k)
        try k.rejectUnknownKeys()
        return c
    }

    /// A source stage's run: a re-ID run on `source`, or, with a classification source, a
    /// classification run on its data with its training and pruning settings (`epochs`
    /// nil: the source's own).
    public func sourceStageConfig(_ name: String, epochs: Int?, pretrained: String?, arch: ResNetArchitecture.Depth? = nil,
                                  prune: (criterion: CriterionKind, target: Double)? = nil) -> ExperimentConfig {
        guard let cs = classificationSource else {
            return stageConfig(name, data: source, epochs: epochs ?? sourceEpochs, pretrained: pretrained, arch: arch,
                               prune: prune)
        }
        var c = base
        c.useClassificationDefaults()
        let distributed = c.train.distributed
        c.train = cs.train
        c.train.distributed = distributed
        c.classificationData = cs.data
        c.train.epochs = epochs ?? cs.epochs
        c.runDirectory = directory + "/" + name
        if let pretrained { c.model.pretrained = pretrained }
        if let arch { c.model.depth = arch }
        if let prune {
            var p = cs.prune ?? c.prune ?? PruneSchedule()
            p.settings.criterion = prune.criterion
            p.settings.ranking.targetFLOPs = prune.target
            p.settings.ranking.removeChannels = nil
            if cs.prune == nil {
                p.steps = 1
                p.startEpoch = 0
            }
            c.prune = p
        } else {
            c.prune = nil
        }
        c.deriveDependentValues()
        return c
    }

    /// A stage's training run: the recipe with `data`, `epochs` (a cosine schedule
    /// follows), its own folder below `directory`, the model it starts from, another
    /// architecture (baselines) and one pruning round at the start, or none.
    public func stageConfig(_ name: String, data: DataConfig, epochs: Int, pretrained: String?,
                            arch: ResNetArchitecture.Depth? = nil,
                            prune: (criterion: CriterionKind, target: Double)? = nil) -> ExperimentConfig {
        var c = base
        c.data = data
        c.train.epochs = epochs
        c.runDirectory = directory + "/" + name
        if let pretrained { c.model.pretrained = pretrained }
        if let arch { c.model.depth = arch }
        if let prune {
            var p = c.prune ?? PruneSchedule()
            p.settings.criterion = prune.criterion
            p.settings.ranking.targetFLOPs = prune.target
            p.settings.ranking.removeChannels = nil
            p.steps = 1
            p.startEpoch = 0
            c.prune = p
        } else {
            c.prune = nil
        }
        c.deriveDependentValues()
        return c
    }
}

extension ScenarioConfig: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try base.code(&k)
        try k.nested("scenario") { k in try self.codeScenario(&k) }
    }

    private mutating func codeScenario(_ k: inout RecipeCoder) throws {
        if k.isReading { source = base.data }
        try k.check(k.isSection("source"), "source", "expected a data section or a classification stage")
        var task = classificationSource == nil ? HeadTask.reid : .classification
        if k.isReading || task == .classification { try k.nested("source") { k in try k.choice("task", &task) } }
        if task == .classification {
            if k.isReading { classificationSource = ClassificationSourceStage() }
            try k.section("source", &classificationSource!)
        } else {
            try k.section("source", &source)
            try k.check(!source.root.isEmpty, "source.root", "missing")
        }
        try k.sections("targets", &targets, start: base.data, what: "data sections (the first is fine-tuned on)")
        for (i, t) in targets.enumerated() { try k.check(!t.root.isEmpty, "targets[\(i)].root", "missing") }
        func epochs(_ key: String, _ v: inout Int) throws {
            try k.int(key, &v)
            try k.check(v >= 1, key, "must be at least 1, got \(v)")
        }
        try epochs("source_epochs", &sourceEpochs)
        try epochs("target_epochs", &targetEpochs)
        try epochs("retrain_epochs", &retrainEpochs)
        let oneShot = CriterionKind.allCases.filter { !$0.trainsBeforeCut }
        try k.choices("criteria", &criteria, oneShot.map { ($0.rawValue, $0) })
        try k.ints("scenarios", &scenarios)
        for s in scenarios { try k.check((1...4).contains(s), "scenarios", "\(s) is not 1, 2, 3 or 4") }
        try k.choices("baselines", &baselines, ResNetArchitecture.Depth.allCases.map { ($0.name, $0) })
        try k.double("target_flops", &targetFLOPs)
        try k.check(targetFLOPs > 0 && targetFLOPs <= 1, "target_flops", "must be in (0, 1]")
        try k.optionalString("source_pretrained", &sourcePretrained)
        try k.string("dir", &directory)
        if let cs = classificationSource, let p = cs.prune, let last = p.epochs.last, last > retrainEpochs {
            throw ConfigError("\(k.origin): scenario.source.prune: its rounds (start_epoch \(p.startEpoch), every \(p.every), "
                              + "steps \(p.steps)) must fall within scenario.retrain_epochs (\(retrainEpochs)), the length of "
                              + "a source-pruning stage")
        }
    }
}
