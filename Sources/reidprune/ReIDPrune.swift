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
    ///
    /// Every rank a launcher (mpirun, srun) starts parses the same command line, so an
    /// error in it is printed by the first rank only; the others exit with the same status.
    static func main() {
        var parsed = false
        do {
            var command = try parseAsRoot()
            parsed = true
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            // A wrong command line (exit 64) points at the usage.
            let hint = code == .validationFailure ? " (see --help)" : ""
            let text = Console.oneLine(message(for: error))
            let quiet = !parsed && (launcherRank ?? 0) != 0
            if !text.isEmpty && !quiet { FileHandle.standardError.write(Data("Error: \(text)\(hint)\n".utf8)) }
            // The launcher ends the job at the first failed rank: the quiet ones give the first
            // (which may start later on another host) time to print.
            if quiet { sleep(2) }
            Foundation.exit(code.rawValue)
        }
    }

    /// This process's rank as its launcher numbers it (Open MPI, PMIx, MPICH's PMI,
    /// Slurm's srun), read before MPI starts; nil outside a launcher.
    static var launcherRank: Int? {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"].lazy.compactMap { env[$0].flatMap { Int($0) } }.first
    }
}
