// Scenario: the design scenarios of the pruning-for-re-ID study as resumable stages in
// one run folder. The source model is trained (or imported) on the large source set;
// then, per criterion: (1) prune and retrain on the source, fine-tune on the target;
// (2) prune on the source, fine-tune on the target, prune again on the target;
// (3) fine-tune on the target, then prune on the target; (4) prune on the target
// before fine-tuning; and unpruned baselines fine-tuned on the target. Every stage is a
// training run (its own folder, resumed from its checkpoint, skipped once it has
// results); every final model is evaluated on every target set (cross-domain), and the
// report tabulates parameters, GFLOPs, latency, rank-1 and mAP with SVG plots.
import Distributed
import Foundation
import NN
import Pruning
import ReIDEval

public struct ScenarioConfig {
    public var recipe: ConfigFile
    public var source: [String: Any]
    public var targets: [[String: Any]]
    public var sourceEpochs: Int
    public var targetEpochs: Int
    public var retrainEpochs: Int
    public var criteria: [String]
    public var scenarios: [Int]
    public var baselines: [String]
    public var targetFLOPs: Double
    public var sourcePretrained: String?
    public var directory: String

    public static func parse(_ file: ConfigFile) throws -> ScenarioConfig {
        var f = file
        func section(_ key: String) throws -> [String: Any] {
            guard let d = f.subtree(key) as? [String: Any] else { throw ConfigError("\(f.origin): key '\(key)': expected a data section") }
            return d
        }
        let source = try section("scenario.source")
        guard let targets = f.subtree("scenario.targets") as? [[String: Any]], !targets.isEmpty else {
            throw ConfigError("\(f.origin): key 'scenario.targets': expected a list of data sections (the first is fine-tuned on)")
        }
        let c = ScenarioConfig(
            recipe: f, source: source, targets: targets,
            sourceEpochs: try f.int("scenario.source_epochs", 10), targetEpochs: try f.int("scenario.target_epochs", 5),
            retrainEpochs: try f.int("scenario.retrain_epochs", 3),
            criteria: try f.strings("scenario.criteria", ["taylor", "l1"]), scenarios: try f.ints("scenario.scenarios", [1, 2, 3, 4]),
            baselines: try f.strings("scenario.baselines", []), targetFLOPs: try f.double("scenario.target_flops", 0.5),
            sourcePretrained: try f.optionalString("scenario.source_pretrained"), directory: try f.string("scenario.dir", "runs/scenario"))
        for s in c.scenarios where !(1...4).contains(s) { throw ConfigError("\(f.origin): key 'scenario.scenarios': \(s) is not 1, 2, 3 or 4") }
        for k in c.criteria where CriterionKind(rawValue: k) == nil || CriterionKind(rawValue: k)!.trainsBeforeCut {
            throw ConfigError("\(f.origin): key 'scenario.criteria': '\(k)' is not a one-shot criterion")
        }
        guard c.targetFLOPs > 0 && c.targetFLOPs <= 1 else { throw ConfigError("\(f.origin): scenario.target_flops must be in (0, 1]") }
        return c
    }
}

public struct ScenarioRow: Codable, Sendable {
    public var scenario: String
    public var method: String
    public var stage: String
    public var arch: String
    public var params: Int
    public var gflops: Double
    public var latencyMs: Double
    /// Per target data set name: rank-1 and mAP.
    public var rank1: [String: Double]
    public var mAP: [String: Double]
}

public final class Scenario {
    public let config: ScenarioConfig
    public let comm: Communicator
    let log: (String) -> Void

    public init(config: ScenarioConfig, comm: Communicator, log: @escaping (String) -> Void) {
        self.config = config
        self.comm = comm
        let root = comm.isRoot
        self.log = { if root { log($0) } }
    }

    /// A stage's recipe: the scenario's recipe with its data, epochs, start model and
    /// pruning set.
    func stageConfig(_ name: String, data: [String: Any], epochs: Int, pretrained: String?, arch: String? = nil,
                     prune: (criterion: String, target: Double)?) throws -> ExperimentConfig {
        var tree: [String: Any] = ["data": data, "train": ["epochs": epochs], "run": ["dir": "\(config.directory)/\(name)"]]
        var model: [String: Any] = [:]
        if let pretrained { model["pretrained"] = pretrained }
        if let arch { model["arch"] = arch }
        if !model.isEmpty { tree["model"] = model }
        var file = config.recipe.merging(tree, origin: "stage \(name)")
        var root = file.root
        root.removeValue(forKey: "scenario")
        if let prune {
            var p = (root["prune"] as? [String: Any]) ?? [:]
            p["criterion"] = prune.criterion
            p["target_flops"] = prune.target
            p["steps"] = 1
            p["start_epoch"] = 0
            root["prune"] = p
        } else {
            root.removeValue(forKey: "prune")
        }
        file = ConfigFile(root: root, origin: file.origin)
        return try ExperimentConfig.parse(file)
    }

    /// Runs a stage unless it already has results; returns its model path.
    /// - Important: Collective — every rank calls this, in the same order.
    func stage(_ name: String, _ c: ExperimentConfig) throws -> String {
        let dir = c.runDirectory
        if !(try comm.broadcast(FileManager.default.fileExists(atPath: dir + "/results.json"))) {
            log("== stage \(name)")
            try Experiment(config: c, comm: comm, log: log).run()
        } else {
            log("== stage \(name): done, kept")
        }
        return dir + "/model.safetensors"
    }

    /// Every stage, then the report; returns its rows.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func run() throws -> [ScenarioRow] {
        let c = config
        let target = c.targets[0]
        let mainArch = c.recipe.subtree("model.arch") as? String ?? "resnet50"
        var finals: [(scenario: String, method: String, stage: String, model: String)] = []
        let source = try stage("source", stageConfig("source", data: c.source, epochs: c.sourceEpochs,
                                                    pretrained: c.sourcePretrained, prune: nil))
        let needsTargetFT = c.scenarios.contains(3) || !c.baselines.isEmpty
        var targetFT: String?
        if needsTargetFT {
            targetFT = try stage("target", stageConfig("target", data: target, epochs: c.targetEpochs, pretrained: source,
                                                      prune: nil))
            finals.append(("baseline", "unpruned \(mainArch)", "target", targetFT!))
        }
        for arch in c.baselines where arch != mainArch {
            let s = try stage("source-\(arch)", stageConfig("source-\(arch)", data: c.source, epochs: c.sourceEpochs,
                                                           pretrained: nil, arch: arch, prune: nil))
            let t = try stage("target-\(arch)", stageConfig("target-\(arch)", data: target, epochs: c.targetEpochs,
                                                           pretrained: s, arch: arch, prune: nil))
            finals.append(("baseline", "unpruned \(arch)", "target-\(arch)", t))
        }
        let half = c.targetFLOPs.squareRoot()
        for k in c.criteria {
            if c.scenarios.contains(1) {
                let p = try stage("s1-\(k)-source-prune", stageConfig("s1-\(k)-source-prune", data: c.source,
                                                                     epochs: c.retrainEpochs, pretrained: source,
                                                                     prune: (k, c.targetFLOPs)))
                let t = try stage("s1-\(k)-target", stageConfig("s1-\(k)-target", data: target, epochs: c.targetEpochs,
                                                               pretrained: p, prune: nil))
                finals.append(("1", k, "s1-\(k)-target", t))
            }
            if c.scenarios.contains(2) {
                let p = try stage("s2-\(k)-source-prune", stageConfig("s2-\(k)-source-prune", data: c.source,
                                                                     epochs: c.retrainEpochs, pretrained: source,
                                                                     prune: (k, half)))
                let t = try stage("s2-\(k)-target", stageConfig("s2-\(k)-target", data: target, epochs: c.targetEpochs,
                                                               pretrained: p, prune: nil))
                // The second round's target is relative to the network it starts from.
                let again = try stage("s2-\(k)-target-prune", stageConfig("s2-\(k)-target-prune", data: target,
                                                                         epochs: c.retrainEpochs, pretrained: t,
                                                                         prune: (k, c.targetFLOPs / half)))
                finals.append(("2", k, "s2-\(k)-target-prune", again))
            }
            if c.scenarios.contains(3), let targetFT {
                let t = try stage("s3-\(k)", stageConfig("s3-\(k)", data: target, epochs: c.retrainEpochs,
                                                        pretrained: targetFT, prune: (k, c.targetFLOPs)))
                finals.append(("3", k, "s3-\(k)", t))
            }
            if c.scenarios.contains(4) {
                let t = try stage("s4-\(k)", stageConfig("s4-\(k)", data: target, epochs: c.targetEpochs,
                                                        pretrained: source, prune: (k, c.targetFLOPs)))
                finals.append(("4", k, "s4-\(k)", t))
            }
        }
        return try report(finals)
    }

    /// Evaluates every final model on every target and writes report.md, report.json
    /// and the SVG plots.
    /// - Important: Collective — every rank calls this, in the same order.
    func report(_ finals: [(scenario: String, method: String, stage: String, model: String)]) throws -> [ScenarioRow] {
        var rows: [ScenarioRow] = []
        var synthetic = false
        let evalRecipe = try stageConfig("target", data: config.targets[0], epochs: 1, pretrained: nil, prune: nil)
        for f in finals {
            let net = try ModelWeights.loadNet(f.model)
            let h = evalRecipe.data.augment.height, w = evalRecipe.data.augment.width
            let cost = FLOPsCounter.count(net.architecture, head: net.headConfig, height: h, width: w)
            let stageResult = FileManager.default.contents(atPath: (f.model as NSString).deletingLastPathComponent + "/results.json")
                .flatMap { try? JSONDecoder().decode(RunResult.self, from: $0) }
            var row = ScenarioRow(scenario: f.scenario, method: f.method, stage: f.stage, arch: stageResult?.arch ?? "resnet",
                                  params: cost.params, gflops: Double(cost.flops) / 1e9, latencyMs: 0, rank1: [:], mAP: [:])
            for (i, data) in config.targets.enumerated() {
                let stageCfg = try stageConfig("eval-\(i)", data: data, epochs: 1, pretrained: nil, prune: nil)
                let experiment = Experiment(config: stageCfg, comm: comm, log: { _ in })
                let (dataset, syn) = try experiment.prepareData()
                synthetic = synthetic || syn
                let m = try experiment.evaluator(dataset).evaluate(net)
                row.rank1[dataset.name] = m.rank(1)
                row.mAP[dataset.name] = m.mAP
            }
            if comm.isRoot {
                let b = try ModelBenchmark.run(training: false, architecture: net.architecture, archName: f.stage, height: h,
                                               width: w, batch: 32, threads: max(1, ProcessInfo.processInfo.activeProcessorCount / comm.size), steps: 3)
                row.latencyMs = 1000 / b.images_per_s
            }
            rows.append(row)
        }
        if comm.isRoot { try ScenarioReport.write(rows, synthetic: synthetic, to: config.directory) }
        return rows
    }
}
