// `reidprune prune`: one-shot pruning of saved weights on every rank: score, rank at the
// root, broadcast the plan, cut; the root writes the pruned model with its architecture
// and pruning history. The options are the recipe's prune: keys.
import ArgumentParser
import Foundation
import Training

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Prune a model's filters to a FLOPs or latency target (one shot; under mpirun every rank's data counts).")

    @Option(help: "The YAML recipe (its data section feeds data-driven criteria).") var config: String
    @Option(help: "Model weights written by reidprune.") var weights: String
    @Option(help: "Criterion (prune.criterion): l1, l2, taylor, bn_taylor, bn_scale, fpgm, entropy, random; auto_balanced and soft_filter cut as l1 and l2 do (their training-time part runs in reidprune train).")
    var criterion = "taylor"
    @Option(help: "Ranking: global or layerwise (default: the criterion's own: layerwise for l1, l2, fpgm, entropy, random; global for taylor, bn_scale, bn_taylor).")
    var ranking: String?
    @Option(help: "Normalizer for global ranking: none, l2, mean, max (default: the criterion's own: l2 for taylor, none otherwise).")
    var normalizer: String?
    @Option(help: "Groups: inner (free groups, as in the study) or all (residual groups too).") var scope = "inner"
    @Option(parsing: .unconditional, help: "Keep at most this fraction of the model's FLOPs (default 0.5 unless a latency target is given).")
    var targetFlops: Double?
    @Option(parsing: .unconditional, help: "Instead of a FLOPs target: prune until the predicted latency (this machine's latency table) is at most this fraction of the model's.")
    var targetLatency: Double?
    @Option(parsing: .unconditional, help: "Batch the latency table predicts for (prune.latency.batch).") var latencyBatch = 32
    @Option(help: "Latency table cache file (prune.latency.cache; default $XDG_CACHE_HOME/reidprune/latency.json, else ~/.cache/reidprune/latency.json).")
    var latencyCache: String?
    @Option(parsing: .unconditional, help: "Instead of a FLOPs target: remove this many channels.") var removeChannels: Int?
    @Option(parsing: .unconditional, help: "Batches per rank for data-driven criteria.") var batches = 20
    @Option(parsing: .unconditional, help: "Keep at least this share of each group (default 0.1; 0: down to one channel, with a warning).")
    var floor = 0.1
    @Option(help: "Round kept widths up to a multiple of this, or auto: widths the latency table finds fast.")
    var roundTo = "1"
    @Option(parsing: .unconditional, help: "round_to auto keeps at least this share of the ranking's width (1 - slack).")
    var roundSlack = 0.1
    @Flag(help: "Do not fold removed channels' constant outputs into the consumers' BN.") var noFold = false
    @Option(help: "Output safetensors file.") var out: String
    @Option(help: "Also write the plan as JSON here.") var plan: String?
    @Argument(help: "Recipe overrides, key=value.") var overrides: [String] = []

    /// The options as recipe overrides of the prune: section, each with the option that
    /// set it; `recipeHasLatencyTarget`: the recipe gives prune.target_latency itself
    /// (then no FLOPs default is added, nor with --remove-channels, which stops instead of
    /// a FLOPs target).
    func pruneKeys(recipeHasLatencyTarget: Bool) -> [(override: String, option: String?)] {
        var keys: [(String, String?, String)] = [("prune.criterion", "--criterion", criterion)]
        if let ranking { keys.append(("prune.ranking", "--ranking", ranking)) }
        if let normalizer { keys.append(("prune.normalizer", "--normalizer", normalizer)) }
        if let targetLatency {
            keys.append(("prune.target_latency", "--target-latency", "\(targetLatency)"))
        } else if targetFlops != nil || (!recipeHasLatencyTarget && removeChannels == nil) {
            keys.append(("prune.target_flops", "--target-flops", "\(targetFlops ?? 0.5)"))
        }
        keys += [("prune.scope", "--scope", scope), ("prune.batches", "--batches", "\(batches)"),
                 ("prune.floor", "--floor", "\(floor)"), ("prune.round_to", "--round-to", roundTo),
                 ("prune.round_slack", "--round-slack", "\(roundSlack)"),
                 ("prune.latency.batch", "--latency-batch", "\(latencyBatch)"), ("prune.fold", nil, "\(!noFold)"),
                 ("prune.steps", nil, "1"), ("prune.start_epoch", nil, "0")]
        if let latencyCache { keys.append(("prune.latency.cache", "--latency-cache", latencyCache)) }
        if let removeChannels { keys.append(("prune.remove_channels", "--remove-channels", "\(removeChannels)")) }
        return keys.map { ("\($0.0)=\($0.2)", $0.1) }
    }

    /// An error about one of the options' recipe keys, naming the option as typed (the
    /// recipe reader names the override the option became).
    static func naming(_ error: Error, keys: [(override: String, option: String?)]) -> Error {
        let text = "\(error)"
        for (k, option) in keys where text.hasPrefix("override '\(k)': ") {
            guard let option, let eq = k.firstIndex(of: "=") else { continue }
            return ValidationError("\(option) \(k[k.index(after: eq)...]): \(text.dropFirst("override '\(k)': ".count))")
        }
        return error
    }

    func validate() throws {
        let stops = [("--target-latency", targetLatency != nil), ("--target-flops", targetFlops != nil),
                     ("--remove-channels", removeChannels != nil)].filter(\.1).map(\.0)
        if stops.count > 1 { throw ValidationError("\(stops.joined(separator: " and ")): give one stop, not both") }
    }

    func run() throws {
        try Ranks.run { comm in
            // The recipe and the options every rank reads alike: an error in them is printed once.
            let c = try comm.onEveryRank { () throws -> ExperimentConfig in
                let recipe = try ConfigFile.load(config, overrides: overrides)
                if let key = ["prune.preset", "prune.per_step", "prune.stop"].first(where: recipe.has) {
                    throw ValidationError("\(config): \(key): reidprune prune cuts once to --target-flops or --remove-channels; "
                                          + "an iterative schedule runs inside training (reidprune train)")
                }
                let keys = pruneKeys(recipeHasLatencyTarget: recipe.has("prune.target_latency"))
                do {
                    return try ExperimentConfig.parse(try ConfigFile.load(config, overrides: overrides + keys.map(\.override)))
                } catch {
                    throw Self.naming(error, keys: keys)
                }
            }
            let line = try PruneFile.run(config: c, weights: weights, out: out, planPath: plan, comm: comm,
                                         log: Ranks.rootLine(comm))
            Ranks.rootLine(comm)(line)
        }
    }
}
