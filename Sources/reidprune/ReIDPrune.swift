// The `reidprune` command: one subcommand per user action. Wiring only; the work is
// done by the library modules.
import ArgumentParser
import Foundation

@main
struct ReIDPrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reidprune",
        abstract: "Train, prune and evaluate Siamese ResNet person re-identification models on CPUs.",
        subcommands: [TrainCommand.self, PruneCommand.self, ScenarioCommand.self, ReportCommand.self, EvalCommand.self, ExtractCommand.self, ExportCommand.self, EvaluateCommand.self, VisRankCommand.self, SynthCommand.self, ShardsCommand.self, FLOPsCommand.self, Bench.self])

    /// Runs the command; a failure prints one line, "Error: " and what went wrong (the
    /// usage is in `--help`), and exits non-zero. Help and version print as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            // A wrong command line (exit 64) points at the usage.
            let hint = code == .validationFailure ? " (see --help)" : ""
            let text = Console.oneLine(message(for: error))
            if !text.isEmpty { FileHandle.standardError.write(Data("Error: \(text)\(hint)\n".utf8)) }
            Foundation.exit(code.rawValue)
        }
    }
}
