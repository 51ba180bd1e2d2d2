// `reidprune train` and `reidprune eval`: a recipe's training run (or its pruning
// scenarios, when it has a `scenario:` section), and the evaluation of saved weights on
// a recipe's data set.
import ArgumentParser
import Foundation
import ReIDData
import Tensors
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train (and evaluate) a Siamese ResNet re-ID model, or a classification model (task: classification), from a YAML recipe, or run its scenario: section.")

    @Option(help: "The YAML recipe.") var config: String
    @Flag(help: "Start over even when the run folder holds a checkpoint (a scenario's stages always resume).") var fresh = false
    @Flag(help: "Only read and check the recipe with its overrides, that a data folder it does not generate exists, that model.pretrained loads and that the run folder can be written, print the run folder (run.dir: or scenario.dir:), then exit (launch/train does this before it starts the ranks, so that such an error is one line).")
    var check = false
    @Option(help: "With --check: the number of ranks the run will have, whose batch must split over them.")
    var ranks = 1
    @Argument(help: "Overrides, key=value (for example train.epochs=5 run.dir=runs/try).") var overrides: [String] = []

    /// A run folder the run could not write (read-only, not writable, below a file).
    static func checkWritable(_ folder: String, key: String) throws {
        if let problem = FileProblem.folder(folder) { throw ConfigError("\(key) '\(folder)': cannot write: \(problem)") }
    }

    func run() throws {
        if check {
            guard (1...1_000_000).contains(ranks) else { throw ValidationError("--ranks must be 1 to 1000000, got \(ranks)") }
            // The recipe, and that a data folder it reads as it is (not one it generates) is there.
            let c: ExperimentConfig
            switch try Recipe.load(config, overrides: overrides) {
            case let .training(t): c = t
            case let .scenario(s):
                try Self.checkWritable(s.directory, key: "scenario.dir")
                Console.line("scenario.dir: \(s.directory)"); return
            }
            try Self.checkWritable(c.runDirectory, key: "run.dir")
            let (root, generated) = c.task == .classification ? (c.classificationData.root, c.classificationData.synth != nil)
                : (c.data.root, c.data.synth != nil)
            if !generated && !ShardPattern.isPattern(root) && !root.hasSuffix(".tar") && !FileManager.default.fileExists(atPath: root) {
                throw ConfigError("data.root: \(root): no such folder")
            }
            // The file a run starts from (its backbone loads as the run would load it).
            try Experiment.namingPretrained { try Experiment.checkPretrained(c.model) }
            if c.task == .reid {
                let d = c.data
                try (d.identitySampler ? IdentitySampler.validate(identities: d.identities, world: ranks)
                     : ShuffleSampler.validate(batchSize: d.batchSize, world: ranks))
            } else {
                try ClassificationSource.validate(globalBatch: c.classificationData.batchSize, world: ranks)
                // Shards are listed cheaply (an image folder is not listed here: it may hold millions).
                if ranks > 1, ClassificationLayout.recognize(root) == .webdataset {
                    let shards: ClassificationDataset
                    do { shards = try ClassificationDataset.open(root, layout: .webdataset, splits: [.train]) } catch {
                        throw DatasetError("data.root: \(error)")
                    }
                    try ClassificationSource.validate(shards: shards, world: ranks)
                }
            }
            Console.line("run.dir: \(c.runDirectory)")
            return
        }
        try Ranks.run(stoppable: true) { comm in
            // A recipe every rank reads alike: its error is printed once.
            switch try comm.onEveryRank({ try Recipe.load(config, overrides: overrides) }) {
            case let .training(c): try Experiment(config: c, comm: comm, log: Console.line).train(resume: !fresh)
            case let .scenario(c): try Scenario(config: c, comm: comm, log: Console.line).run()
            }
        }
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate saved weights on a recipe's data set: query/gallery metrics, or top-1/top-5 for a classification recipe.")

    @Option(help: "The YAML recipe (its data and eval sections are used).") var config: String
    @Option(help: "A safetensors model written by reidprune.") var weights: String
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Arithmetic of convolutions and linear layers, fp32 or bf16 (default: the recipe's train.precision).")
    var precision: String?
    @Argument(help: "Overrides, key=value.") var overrides: [String] = []

    func validate() throws {
        if let precision { try OptionRange.precision(precision) }
    }

    func run() throws {
        let overrides = self.overrides + (precision.map { ["train.precision=\($0)"] } ?? [])
        try Ranks.run { comm in
            let c = try comm.onEveryRank { try ExperimentConfig.parse(try ConfigFile.load(config, overrides: overrides)) }
            let experiment = Experiment(config: c, comm: comm, log: Console.line)
            if c.task == .classification {
                let (m, synthetic) = try experiment.evaluateClassification(weights: weights)
                if comm.isRoot { Console.line(json ? try m.json(synthetic: synthetic) : m.text(synthetic: synthetic)) }
                return
            }
            let (m, synthetic) = try experiment.evaluate(weights: weights)
            if comm.isRoot { Console.line(json ? try m.json(synthetic: synthetic) : m.text(synthetic: synthetic)) }
        }
    }
}
