// PruneFile: one-shot pruning of a saved model (`reidprune prune`), re-ID or
// classification: every rank scores (data criteria on its own batches of the recipe's
// training data, with the recipe's task's loss), the root ranks and
// broadcasts one plan, every rank cuts, and the root writes the pruned model with its
// architecture and its pruning history extended by this round.
import Distributed
import Foundation
import NN
import Pruning
import ReIDData
import Tensors

public enum PruneFile {
    /// Prunes `weights` with the recipe's `prune:` settings and writes the cut model to `out` (and the plan as JSON to `planPath`).
    /// Returns the root's one-line summary (empty elsewhere).
    /// - Important: Collective — every rank calls this, in the same order.
    public static func run(config c: ExperimentConfig, weights: String, out: String, planPath: String?,
                           comm: Communicator, log: @escaping (String) -> Void) throws -> String {
        guard var settings = c.prune?.settings else { throw ConfigError("the recipe has no prune: section") }
        // The root writes both files at the end: a path it cannot write fails before any work.
        try comm.onRoot { try AtomicFile.checkCreatable([out] + (planPath.map { [$0] } ?? [])) }
        // Every rank reads the model; a problem with it is reported once.
        let (file, net) = try comm.onEveryRank {
            let file = try SafetensorsFile(path: weights)
            return (file, try ModelWeights.loadNet(file, expected: c.model.archName))
        }
        // Data criteria run and latency tables time the recipe's arithmetic; weights alone
        // against a FLOPs target or a channel count need none.
        if settings.criterion.needsData || settings.ranking.targetLatency != nil || settings.ranking.roundAuto {
            try c.train.precision.requireSupported(key: "train.precision")
            net.precision = c.train.precision
        }
        let metadata = file.metadata
        let history = try PrunePlan.history(in: metadata)
        let synthetic = metadata["synthetic"]
        let kind = settings.criterion
        var trainer: Trainer?
        var loader: DataLoader?
        var classification: ClassificationRunData?
        defer {
            loader?.shutdown()
            classification?.shutdown()
        }
        var next: () throws -> Batch = { throw PruningError("\(kind.rawValue) needs data") }
        if kind.needsData && c.task == .classification {
            let data = try Experiment(config: c, comm: comm, log: log).openClassificationData()
            classification = data
            guard net.headConfig.task == .classification, net.headConfig.numClasses == data.numClasses else {
                throw PruningError("\(weights) is a \(net.headConfig.task.rawValue) model with \(net.headConfig.numClasses) "
                                   + "classes but the recipe's data set has \(data.numClasses) classes; data criteria need "
                                   + "the matching data")
            }
            if kind.needsGradients {
                trainer = try Trainer(net: net, source: data.source, config: c.train.scaled(forGlobalBatch: data.globalBatch),
                                      runDirectory: nil, comm: comm)
            }
            next = data.source.pass(fromEpoch: 0)
        } else if kind.needsData {
            let experiment = Experiment(config: c, comm: comm, log: log)
            let (dataset, _) = try experiment.prepareData()
            guard net.headConfig.numClasses == dataset.numTrainPids || !kind.needsGradients else {
                throw PruningError("\(weights) classifies \(net.headConfig.numClasses) identities but the recipe's "
                                   + "training split has \(dataset.numTrainPids); gradient criteria need the matching data")
            }
            let l = try experiment.makeLoader(dataset)
            loader = l
            if kind.needsGradients { trainer = try Trainer(net: net, source: l, config: c.train, runDirectory: nil, comm: comm) }
            next = l.pass(fromEpoch: 0)
        }
        // score_epochs: that many passes over the training data the criterion's batches come from.
        if let e = settings.scoreEpochs, let perEpoch = classification?.source.batchesPerEpoch ?? loader?.batchesPerEpoch {
            settings.batches = e * perEpoch
        }
        let outcome = try PruneRound.run(net: net, settings: settings, comm: comm, gradients: trainer?.accumulateGradients,
                                         batch: next)
        if let shortfall = outcome.shortfall { log("warning: \(shortfall)") }
        if let collapsed = outcome.collapsed { log("warning: \(collapsed)") }
        if let latency = outcome.latency { log(latency) }
        return try comm.onRoot {
            var meta = try PrunePlan.metadata(for: history + [outcome.plan])
            if let synthetic { meta["synthetic"] = synthetic }
            if let size = ModelWeights.inputSize(of: file) {
                meta.merge(ModelWeights.inputSizeMetadata(height: size.height, width: size.width)) { _, new in new }
            }
            // Both files or neither: a failed write leaves an earlier model or plan as it was.
            let model = try SafetensorsWriter.forNet(outcome.net, metadata: meta).encoded()
            try AtomicFile.writeAll([(model, out)] + (try planPath.map { [(Data(try outcome.plan.encoded()), $0)] } ?? []))
            let p = outcome.plan, h = settings.ranking.height, w = settings.ranking.width
            let before = FLOPsCounter.count(p.before, head: p.head, height: h, width: w)
            let after = FLOPsCounter.count(p.after, head: p.head, height: h, width: w)
            return String(format: "pruned with %@ (%@): %.3f -> %.3f GFLOPs (%.1f%%), %d -> %d parameters; wrote %@",
                          p.criterion, p.ranking, Double(before.flops) / 1e9, Double(after.flops) / 1e9,
                          100 * Double(after.flops) / Double(before.flops), before.params, after.params, out)
        }
    }
}
