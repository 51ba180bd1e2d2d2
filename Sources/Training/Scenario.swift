// Scenario: the design scenarios of the pruning-for-re-ID study as resumable stages in
// one run folder. The source model is trained (or imported) on the large source set (a
// re-ID set, or a classification pretraining stage as the study's ImageNet);
// then, per criterion: (1) prune and retrain on the source, fine-tune on the target;
// (2) prune on the source, fine-tune on the target, prune again on the target;
// (3) fine-tune on the target, then prune on the target; (4) prune on the target
// before fine-tuning ("not applicable" to criteria that act while training); and
// unpruned baselines, started like the source, fine-tuned on the target. Every stage is a
// training run (its own folder, resumed from its checkpoint, skipped once it has
// results); every final model is evaluated on every target set (cross-domain), and the
// report tabulates parameters, GFLOPs, latency, rank-1 and mAP with SVG plots.
import Distributed
import Foundation
import NN
import Pruning
import ReIDEval

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
    /// Set for a (scenario, method) pair that does not exist ("not applicable": criteria
    /// that act while training cannot prune before fine-tuning, scenario 4); no model then.
    public var note: String? = nil

    public init(scenario: String, method: String, stage: String, arch: String, params: Int, gflops: Double, latencyMs: Double,
                rank1: [String: Double], mAP: [String: Double], note: String? = nil) {
        (self.scenario, self.method, self.stage, self.arch, self.params) = (scenario, method, stage, arch, params)
        (self.gflops, self.latencyMs, self.rank1, self.mAP, self.note) = (gflops, latencyMs, rank1, mAP, note)
    }
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

    /// Runs a stage unless it already has results; returns its model path.
    /// - Important: Collective — every rank calls this, in the same order.
    func stage(_ name: String, _ c: ExperimentConfig) throws -> String {
        let dir = c.runDirectory
        if !(try comm.broadcast(FileManager.default.fileExists(atPath: dir + "/results.json"))) {
            log("== stage \(name)")
            try Experiment(config: c, comm: comm, log: log).train()
        } else {
            log("== stage \(name): done, kept")
        }
        return dir + "/model.safetensors"
    }

    /// Every stage, then the report (logged with its path); returns its rows.
    /// - Important: Collective — every rank calls this, in the same order.
    @discardableResult
    public func run() throws -> [ScenarioRow] {
        // One scenario per folder: the root holds scenario.dir's lock while the stages run.
        var lock: RunLock?
        try comm.onRoot { lock = try RunLock(folder: config.directory, key: "scenario.dir") }
        return try withExtendedLifetime(lock) { try runStages() }
    }

    /// - Important: Collective — every rank calls this, in the same order.
    private func runStages() throws -> [ScenarioRow] {
        let c = config
        try comm.onRoot {
            try c.checkInputs(sourceDone: FileManager.default.fileExists(atPath: c.directory + "/source/results.json"))
        }
        let target = c.targets[0]
        let mainArch = c.base.model.depth
        var finals: [(scenario: String, method: String, stage: String, model: String)] = []
        let source = try stage("source", c.sourceStageConfig("source", epochs: nil, pretrained: c.sourcePretrained))
        let needsTargetFT = c.scenarios.contains(3) || !c.baselines.isEmpty
        var targetFT: String?
        if needsTargetFT {
            targetFT = try stage("target", c.stageConfig("target", data: target, epochs: c.targetEpochs, pretrained: source,
                                                      prune: nil))
            finals.append(("baseline", "unpruned \(mainArch.name)", "target", targetFT!))
        }
        for depth in c.baselines where depth != mainArch {
            let arch = depth.name
            // Trained like the source stage: from the matching backbone file, or from scratch as the source is.
            let s = try stage("source-\(arch)", try c.baselineSourceConfig(depth))
            let t = try stage("target-\(arch)", c.stageConfig("target-\(arch)", data: target, epochs: c.targetEpochs,
                                                           pretrained: s, arch: depth, prune: nil))
            finals.append(("baseline", "unpruned \(arch)", "target-\(arch)", t))
        }
        let (firstHalf, secondHalf) = c.halfStops
        var notApplicable: [ScenarioRow] = []
        for criterion in c.criteria {
            let k = criterion.rawValue
            if c.scenarios.contains(1) {
                let p = try stage("s1-\(k)-source-prune", c.sourceStageConfig("s1-\(k)-source-prune", epochs: c.retrainEpochs,
                                                                           pretrained: source, prune: (criterion, c.stop)))
                let t = try stage("s1-\(k)-target", c.stageConfig("s1-\(k)-target", data: target, epochs: c.targetEpochs,
                                                               pretrained: p, prune: nil))
                finals.append(("1", k, "s1-\(k)-target", t))
            }
            if c.scenarios.contains(2) {
                let p = try stage("s2-\(k)-source-prune", c.sourceStageConfig("s2-\(k)-source-prune", epochs: c.retrainEpochs,
                                                                           pretrained: source, prune: (criterion, firstHalf)))
                let t = try stage("s2-\(k)-target", c.stageConfig("s2-\(k)-target", data: target, epochs: c.targetEpochs,
                                                               pretrained: p, prune: nil))
                // The second stop is relative to the network it starts from.
                let again = try stage("s2-\(k)-target-prune", c.stageConfig("s2-\(k)-target-prune", data: target,
                                                                         epochs: c.retrainEpochs, pretrained: t,
                                                                         prune: (criterion, secondHalf)))
                finals.append(("2", k, "s2-\(k)-target-prune", again))
            }
            if c.scenarios.contains(3), let targetFT {
                let t = try stage("s3-\(k)", c.stageConfig("s3-\(k)", data: target, epochs: c.retrainEpochs,
                                                        pretrained: targetFT, prune: (criterion, c.stop)))
                finals.append(("3", k, "s3-\(k)", t))
            }
            if c.scenarios.contains(4) && criterion.trainsBeforeCut {
                // The criterion acts while the network trains on the target: it cannot prune before that training.
                notApplicable.append(ScenarioRow(scenario: "4", method: k, stage: "", arch: "", params: 0, gflops: 0,
                                                 latencyMs: 0, rank1: [:], mAP: [:], note: "not applicable"))
            } else if c.scenarios.contains(4) {
                let t = try stage("s4-\(k)", c.stageConfig("s4-\(k)", data: target, epochs: c.targetEpochs,
                                                        pretrained: source, prune: (criterion, c.stop)))
                finals.append(("4", k, "s4-\(k)", t))
            }
        }
        let rows = try report(finals, reference: targetFT ?? source, notApplicable: notApplicable)
        if comm.isRoot {
            log("wrote \(c.directory)/report.md (\(rows.count) models)")
            if let text = try? String(contentsOfFile: c.directory + "/report.md", encoding: .utf8) { log(text) }
        }
        return rows
    }

    /// Evaluates every final model on every target and writes report.md, report.json,
    /// the SVG plots and report.html; on the first target, each pruned model's rank lists
    /// are compared with those of `reference` (the unpruned model it comes from).
    /// - Important: Collective — every rank calls this, in the same order.
    func report(_ finals: [(scenario: String, method: String, stage: String, model: String)],
                reference: String, notApplicable: [ScenarioRow] = []) throws -> [ScenarioRow] {
        var rows: [ScenarioRow] = []
        var synthetic = false
        var comparisons: [ScenarioComparison] = []
        var referenceSide: VisRank.Side?
        // The reference is extracted separately only when it is not one of the final models.
        var referencePending = !finals.contains { $0.model == reference }
        var fineTuned: String?
        let evalRecipe = config.stageConfig("target", data: config.targets[0], epochs: 1, pretrained: nil, prune: nil)
        for f in finals {
            let net = try ModelWeights.loadNet(f.model)
            let h = evalRecipe.data.augment.height, w = evalRecipe.data.augment.width
            let cost = FLOPsCounter.count(net.architecture, head: net.headConfig, height: h, width: w)
            let stageResult = FileManager.default.contents(atPath: (f.model as NSString).deletingLastPathComponent + "/results.json")
                .flatMap { try? JSONDecoder().decode(RunResult.self, from: $0) }
            var row = ScenarioRow(scenario: f.scenario, method: f.method, stage: f.stage, arch: stageResult?.arch ?? "resnet",
                                  params: cost.params, gflops: Double(cost.flops) / 1e9, latencyMs: 0, rank1: [:], mAP: [:])
            for (i, data) in config.targets.enumerated() {
                let stageCfg = config.stageConfig("eval-\(i)", data: data, epochs: 1, pretrained: nil, prune: nil)
                let experiment = Experiment(config: stageCfg, comm: comm, log: { _ in })
                let (dataset, syn) = try experiment.prepareData()
                synthetic = synthetic || syn
                let evaluator = experiment.evaluator(dataset)
                let features = try evaluator.features(net)
                let m = try evaluator.evaluate(features: features)
                row.rank1[dataset.name] = m.rank(1)
                row.mAP[dataset.name] = m.mAP
                guard i == 0 else { continue }
                fineTuned = dataset.name
                if referencePending {
                    let r = try evaluator.features(try ModelWeights.loadNet(reference))
                    referenceSide = r.map { VisRank.Side(name: "the unpruned source", query: $0.query, gallery: $0.gallery) }
                    referencePending = false
                }
                let label = f.scenario == "baseline" ? f.method : "S\(f.scenario) \(f.method)"
                let side = features.map { VisRank.Side(name: label, query: $0.query, gallery: $0.gallery) }
                if f.model == reference { referenceSide = side }
                guard f.scenario != "baseline" else { continue }
                // The root compares and writes; an error there reaches every rank.
                let images = VisRank.Images(query: dataset.query.map(\.path), gallery: dataset.gallery.map(\.path),
                                            dataset: dataset.name, synthetic: syn)
                let c: ScenarioComparison? = try comm.onRoot {
                    guard let ref = referenceSide, let side else { return nil }
                    return try ScenarioComparison.write(reference: ref, pruned: side, label: label, stage: f.stage,
                                                        images: images, eval: stageCfg.eval, directory: config.directory)
                }
                if let c { comparisons.append(c) }
            }
            if comm.isRoot {
                let b = try ModelBenchmark.run(training: false, architecture: net.architecture, archName: f.stage, height: h,
                                               width: w, batch: 32, threads: max(1, ProcessInfo.processInfo.activeProcessorCount / comm.size), steps: 3)
                row.latencyMs = 1000 / b.images_per_s
            }
            rows.append(row)
        }
        rows += notApplicable
        if comm.isRoot {
            try ScenarioReport.write(rows, synthetic: synthetic, comparisons: comparisons,
                                     reference: referenceSide?.name ?? "the unpruned model", target: fineTuned,
                                     to: config.directory)
        }
        return rows
    }
}
