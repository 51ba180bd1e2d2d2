// `reidprune prune`: one-shot pruning of saved weights on every rank: score, rank at the
// root, broadcast the plan, cut; the root writes the pruned model with its architecture
// and pruning history.
import ArgumentParser
import Foundation
import NN
import Pruning
import ReIDData
import Training

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Prune a model's filters to a FLOPs target (one shot; under mpirun every rank's data counts).")

    @Option(help: "The YAML recipe (its data section feeds data-driven criteria).") var config: String
    @Option(help: "Model weights written by reidprune.") var weights: String
    @Option(help: "Criterion: \(CriterionKind.allCases.map(\.rawValue).joined(separator: ", ")).") var criterion = "taylor"
    @Option(help: "Ranking: global or layerwise.") var ranking = "global"
    @Option(help: "Normalizer for global ranking: none, l2, mean, max.") var normalizer = "l2"
    @Option(help: "Groups: inner (free groups, as in the study) or all (residual groups too).") var scope = "inner"
    @Option(help: "Keep at most this fraction of the model's FLOPs.") var targetFlops = 0.5
    @Option(help: "Instead of a FLOPs target: remove this many channels.") var removeChannels: Int?
    @Option(help: "Batches per rank for data-driven criteria.") var batches = 20
    @Option(help: "Keep at least this share of each group.") var floor = 0.0
    @Option(help: "Round kept widths up to a multiple of this.") var roundTo = 1
    @Flag(help: "Do not fold removed channels' constant outputs into the consumers' BN.") var noFold = false
    @Option(help: "Output safetensors file.") var out: String
    @Option(help: "Also write the plan as JSON here.") var plan: String?
    @Argument(help: "Recipe overrides, key=value.") var overrides: [String] = []

    func run() throws {
        guard let kind = CriterionKind(rawValue: criterion) else {
            throw ValidationError("--criterion must be one of \(CriterionKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let mode = RankingMode(rawValue: ranking), let norm = Normalizer(rawValue: normalizer),
              let sc = PruneScope(rawValue: scope) else {
            throw ValidationError("--ranking global|layerwise, --normalizer none|l2|mean|max, --scope inner|all")
        }
        try Ranks.run { comm in
            let say = Ranks.rootLine(comm)
            let c = try ExperimentConfig.parse(try ConfigFile.load(config, overrides: overrides))
            let experiment = Experiment(config: c, comm: comm, log: say)
            let file = try SafetensorsFile(path: weights)
            let net = try ModelWeights.loadNet(weights)
            var settings = PruneSettings()
            settings.criterion = kind
            settings.batches = batches
            settings.fold = !noFold
            settings.ranking.mode = mode
            settings.ranking.normalizer = norm
            settings.ranking.scope = sc
            settings.ranking.targetFLOPs = removeChannels == nil ? targetFlops : nil
            settings.ranking.removeChannels = removeChannels
            settings.ranking.floor = floor
            settings.ranking.roundTo = roundTo
            settings.ranking.height = c.data.augment.height
            settings.ranking.width = c.data.augment.width
            var trainer: Trainer?
            var loader: DataLoader?
            if kind.needsData {
                let (dataset, _) = try experiment.prepareData()
                guard net.headConfig.numClasses == dataset.numTrainPids || !kind.needsGradients else {
                    throw ValidationError("\(weights) classifies \(net.headConfig.numClasses) identities but the recipe's "
                                          + "training split has \(dataset.numTrainPids); gradient criteria need the matching data")
                }
                let sampler = try IdentitySampler(pids: dataset.train.map(\.pid), identities: c.data.identities,
                                                  instances: c.data.instances, seed: c.seed)
                let l = try DataLoader(records: dataset.train, labelMap: dataset.labelMap, sampler: sampler,
                                       augment: c.data.augment, options: c.data.loader, rank: comm.rank, world: comm.size)
                loader = l
                if kind.needsGradients {
                    trainer = try Trainer(net: net, source: l, config: c.train, runDirectory: nil, comm: comm)
                }
            }
            defer { loader?.shutdown() }
            let next = loader?.batches(fromEpoch: 0) ?? { throw ValidationError("no data") }
            let outcome = try PruneRound.run(net: net, settings: settings, comm: comm, trainer: trainer, batch: next)
            if comm.isRoot {
                var history = try file.metadata["reidprune.pruning_history"].map { try PrunePlan.decodeHistory($0) } ?? []
                history.append(outcome.plan)
                let meta = ["reidprune.pruning_history": try PrunePlan.encodeHistory(history)]
                try ModelWeights.save(outcome.net, to: out, metadata: meta.merging(file.metadata.filter {
                    $0.key == "synthetic" }) { a, _ in a })
                if let plan { try AtomicFile.write(Data(try outcome.plan.encoded()), to: plan) }
                let d = PruneRound.describe(outcome, height: c.data.augment.height, width: c.data.augment.width)
                say(String(format: "pruned with %@ (%@): %.3f -> %.3f GFLOPs (%.1f%%), %d -> %d parameters; wrote %@",
                           outcome.plan.criterion, outcome.plan.ranking, d["gflops_before"] as! Double,
                           d["gflops_after"] as! Double, 100 * (d["gflops_after"] as! Double) / (d["gflops_before"] as! Double),
                           d["params_before"] as! Int, d["params_after"] as! Int, out))
            }
        }
    }
}
