// The `reidprune` command: one subcommand per user action. Wiring only; the work is
// done by the library modules.
import ArgumentParser

@main
struct ReIDPrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reidprune",
        abstract: "Train, prune and evaluate Siamese ResNet person re-identification models on CPUs.",
        subcommands: [TrainCommand.self, PruneCommand.self, ScenarioCommand.self, ReportCommand.self, EvalCommand.self, ExtractCommand.self, ExportCommand.self, EvaluateCommand.self, VisRankCommand.self, SynthCommand.self, ShardsCommand.self, FLOPsCommand.self, Bench.self])
}
