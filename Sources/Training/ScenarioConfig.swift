// ScenarioConfig: a scenario recipe, typed: the recipe's own sections (what every stage
// starts from), the source (a re-ID data section read over the recipe's `data:`, or a
// classification pretraining stage) and the target data sections, the epochs of each kind
// of stage, the criteria, scenarios, baselines and the files baselines start from,
// per-criterion ranking overrides. A stage's ExperimentConfig is a copy of the recipe's
// with typed edits (its pruning schedule is the recipe's `prune:`, one-shot or iterative,
// with the stage's criterion and stop); its `yaml` reproduces it.
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
    /// The file each baseline's source stage starts from (a torchvision ImageNet
    /// backbone of that depth), needed when the source starts from an imported backbone.
    public var baselinePretrained: [ResNetArchitecture.Depth: String] = [:]
    /// Per criterion ranking and normalizer of every pruning stage.
    public var overrides: [CriterionKind: RankingOverride] = [:]
    public var targetFLOPs = 0.5
    /// A model to start the source stage from instead of the recipe's `model.pretrained`.
    public var sourcePretrained: String?
    public var directory = "runs/scenario"

    public init() {}

    /// What a pruning stage removes: down to a share of the FLOPs of the model it
    /// starts from, or a share of that model's prunable channels.
    public enum Stop: Sendable, Equatable {
        case flops(Double)
        case channels(Double)
    }

    /// The stop of scenarios 1, 3 and 4: a channel share when the recipe's `prune:` stops
    /// on channels (the study: half of the prunable filters), else `target_flops`.
    public var stop: Stop { base.prune?.stopChannels.map { .channels($0) } ?? .flops(targetFLOPs) }

    /// Scenario 2's two stops (on the source, then on the target, each relative to the
    /// model it starts from) that compose to `stop`.
    public var halfStops: (Stop, Stop) {
        switch stop {
        case let .flops(t):
            let half = t.squareRoot()
            return (.flops(half), .flops(t / half))
        case let .channels(share):
            return (.channels(share / 2), .channels((share / 2) / (1 - share / 2)))
        }
    }

    /// Whether the source stage starts from a file (an imported backbone or a model).
    public var sourceStartsFromFile: Bool { (sourcePretrained ?? base.model.pretrained) != nil }

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
    /// nil: the source's own). A pruning stage on a classification source runs the
    /// source's fixed-step `prune:` rounds within `epochs`; without one (or with an
    /// iterative one, or for criteria that act while training) the schedule as `stageConfig`
    /// makes it.
    public func sourceStageConfig(_ name: String, epochs: Int?, pretrained: String?, arch: ResNetArchitecture.Depth? = nil,
                                  prune: (criterion: CriterionKind, stop: Stop)? = nil) -> ExperimentConfig {
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
            if let p = cs.prune, p.perStep == nil, !prune.criterion.trainsBeforeCut {
                c.prune = schedule(p, prune)
            } else {
                schedulePruning(&c, schedule(cs.prune ?? c.prune ?? PruneSchedule(), prune), epochs: c.train.epochs)
            }
        } else {
            c.prune = nil
        }
        c.deriveDependentValues()
        return c
    }

    /// A stage's training run: the recipe with `data`, `epochs` (a cosine schedule
    /// follows), its own folder below `directory`, the model it starts from, another
    /// architecture (baselines) and a pruning schedule, or none. A pruning stage runs the
    /// recipe's `prune:` schedule with `criterion` and `stop`: one-shot or fixed steps
    /// (`epochs` of retraining after the first round), iterative (its rounds, then
    /// final_epochs, else `epochs`), or for criteria that act while training (soft filter,
    /// auto-balanced) training with the criterion over as many epochs as the iterative
    /// rounds span (or `epochs`), the cut, then the same retraining.
    public func stageConfig(_ name: String, data: DataConfig, epochs: Int, pretrained: String?,
                            arch: ResNetArchitecture.Depth? = nil,
                            prune: (criterion: CriterionKind, stop: Stop)? = nil) -> ExperimentConfig {
        var c = base
        c.data = data
        c.train.epochs = epochs
        c.runDirectory = directory + "/" + name
        if let pretrained { c.model.pretrained = pretrained }
        if let arch { c.model.depth = arch }
        if let prune {
            schedulePruning(&c, schedule(c.prune ?? PruneSchedule(), prune), epochs: epochs)
        } else {
            c.prune = nil
        }
        c.deriveDependentValues()
        return c
    }

    /// `p` with the stage's criterion, its ranking override and its stop.
    func schedule(_ p: PruneSchedule, _ prune: (criterion: CriterionKind, stop: Stop)) -> PruneSchedule {
        var p = p
        p.settings.criterion = prune.criterion
        if let o = overrides[prune.criterion] { p.settings.overrides[prune.criterion] = o }
        p.settings.ranking.removeChannels = nil
        switch prune.stop {
        case let .flops(t):
            p.settings.ranking.targetFLOPs = t
            p.stopChannels = nil
        case let .channels(share):
            p.settings.ranking.targetFLOPs = nil
            p.stopChannels = share
        }
        return p
    }

    /// Sets `c`'s pruning schedule to `p` from the stage's start and its training length:
    /// one-shot or fixed steps then `epochs` of retraining, iterative rounds then
    /// final_epochs (else `epochs`), or for criteria that act while training, training with
    /// the criterion over as many epochs as the iterative rounds span (or `epochs`), the cut,
    /// then the same retraining.
    func schedulePruning(_ c: inout ExperimentConfig, _ p: PruneSchedule, epochs: Int) {
        var p = p
        p.startEpoch = 0
        let start = (try? Experiment.startArchitecture(c.model)) ?? c.model.architecture
        var probe = c
        probe.prune = p
        probe.deriveDependentValues()
        let rounds = probe.prune!.plannedSteps(start, head: c.model.head)
        let retrain = p.finalEpochs ?? epochs
        if p.settings.criterion.trainsBeforeCut {
            p.startEpoch = p.perStep == nil ? epochs : max(p.every, (rounds - 1) * p.every)
            c.train.epochs = p.startEpoch + retrain
            (p.perStep, p.steps, p.finalEpochs) = (nil, 1, nil)
        } else if p.perStep != nil {
            p.finalEpochs = retrain
            c.train.epochs = p.roundEpochs(rounds).last! + retrain
        } else {
            c.train.epochs = p.epochs.last! + epochs
        }
        c.prune = p
    }

    /// A baseline's source stage: `depth`, trained like the source stage (same data,
    /// epochs and recipe) from `baseline_pretrained`'s file for it, or from scratch when
    /// the source stage also starts from scratch.
    public func baselineSourceConfig(_ depth: ResNetArchitecture.Depth) throws -> ExperimentConfig {
        var c = sourceStageConfig("source-\(depth.name)", epochs: nil, pretrained: nil, arch: depth)
        c.model.pretrained = baselinePretrained[depth]
        if c.model.pretrained == nil && sourceStartsFromFile {
            throw ConfigError("scenario.baseline_pretrained.\(depth.name): the source stage starts from "
                              + "\(sourcePretrained ?? base.model.pretrained ?? "") and the \(depth.name) baseline must start "
                              + "the same way: give the matching \(depth.name) file (torchvision safetensors)")
        }
        return c
    }
}

extension ScenarioConfig {
    /// Reads what the stages will need before the first one trains, so that a missing or
    /// malformed target set or model file is reported now and not hours later: every re-ID
    /// set on disk (a SynthReID set the recipe describes is made when its stage needs it)
    /// and every file a stage starts from (loaded into the network its stage builds). Once the
    /// source stage has finished (`sourceDone`), what only it reads is not checked again.
    public func checkInputs(sourceDone: Bool) throws {
        func named(_ key: String, _ body: () throws -> Void) throws {
            // (An error that already begins with the key is not named twice.)
            do { try body() } catch { throw "\(error)".hasPrefix(key) ? error : ConfigError("\(key): \(error)") }
        }
        if classificationSource == nil && source.synth == nil {
            _ = try Experiment.prepareData(source, rootKey: "scenario.source.root") { _ in }
        }
        for (i, set) in targets.enumerated() where set.synth == nil {
            _ = try Experiment.prepareData(set, rootKey: "scenario.targets[\(i)].root") { _ in }
        }
        if !sourceDone {
            let key = sourcePretrained != nil ? "scenario.source_pretrained" : "model.pretrained"
            let start = sourceStageConfig("source", epochs: nil, pretrained: sourcePretrained).model
            try named(key) { try Experiment.checkPretrained(start) }
        }
        for depth in baselines where depth != base.model.depth {
            let stage = try baselineSourceConfig(depth)
            try named("scenario.baseline_pretrained.\(depth.name)") { try Experiment.checkPretrained(stage.model) }
        }
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
            try k.check(v, in: 1...TrainerConfig.maxEpochs, key)
        }
        try epochs("source_epochs", &sourceEpochs)
        try epochs("target_epochs", &targetEpochs)
        try epochs("retrain_epochs", &retrainEpochs)
        try k.choices("criteria", &criteria, CriterionKind.allCases.map { ($0.rawValue, $0) })
        try k.check(!criteria.isEmpty, "criteria", "names no criterion: the study would prune nothing")
        try k.ints("scenarios", &scenarios)
        try k.check(!scenarios.isEmpty, "scenarios", "names no scenario: the study would prune nothing")
        for s in scenarios { try k.check((1...4).contains(s), "scenarios", "\(s) is not 1, 2, 3 or 4") }
        try k.choices("baselines", &baselines, ResNetArchitecture.Depth.allCases.map { ($0.name, $0) })
        try codeBaselineFiles(&k)
        let present = k.isReading ? CriterionKind.allCases.filter { k.has("overrides.\($0.rawValue)") }
            : CriterionKind.allCases.filter { overrides[$0] != nil }
        if k.isReading && k.has("overrides") {
            try k.check(k.isSection("overrides"), "overrides", "expected {criterion: {ranking: ..., normalizer: ...}}")
        }
        if !present.isEmpty {
            try k.nested("overrides") { k in
                for c in present {
                    var o = overrides[c] ?? RankingOverride()
                    try k.section(c.rawValue, &o)
                    overrides[c] = o
                }
            }
        }
        try k.check(!(k.has("target_flops") && base.prune?.stopChannels != nil), "target_flops",
                    "the recipe's prune: stops on a channel share (stop: {channels: ...}); give one of them")
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

extension ScenarioConfig {
    /// `baseline_pretrained: {resnet18: FILE, ...}`: only for architectures in `baselines`.
    private mutating func codeBaselineFiles(_ k: inout RecipeCoder) throws {
        let depths = ResNetArchitecture.Depth.allCases
        let present = k.isReading ? depths.filter { k.has("baseline_pretrained.\($0.name)") }
            : depths.filter { baselinePretrained[$0] != nil }
        if k.isReading && k.has("baseline_pretrained") {
            try k.check(k.isSection("baseline_pretrained"), "baseline_pretrained", "expected {resnet18: FILE, ...}")
        }
        guard !present.isEmpty else { return }
        try k.nested("baseline_pretrained") { k in
            for d in present {
                var file = baselinePretrained[d] ?? ""
                try k.string(d.name, &file)
                try k.check(!file.isEmpty, d.name, "empty path")
                try k.check(baselines.contains(d), d.name, "\(d.name) is not in scenario.baselines")
                try k.check(d != base.model.depth, d.name, "\(d.name) is the scenario's own model.arch, whose source stage "
                            + "starts from scenario.source_pretrained or model.pretrained; this file would not be used")
                baselinePretrained[d] = file
            }
        }
    }
}
