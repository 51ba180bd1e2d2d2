// `reidprune scenario`: the design scenarios of the pruning study as resumable stages
// in one run folder, ending with report.md, report.json and SVG plots.
import ArgumentParser
import Foundation
import Training

struct ScenarioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario", abstract: "Run the pruning design scenarios (resumable stages) and write their report.")

    @Option(help: "The scenario recipe (a training recipe with a scenario: section).") var config: String
    @Argument(help: "Overrides, key=value.") var overrides: [String] = []

    func run() throws {
        try Ranks.run(stoppable: true) { comm in
            // A recipe every rank reads alike: its error is printed once.
            let c = try comm.onEveryRank { () throws -> ScenarioConfig in
                let file = try ConfigFile.load(config, overrides: overrides)
                guard file.has("scenario") else {
                    throw ConfigError("\(config): has no scenario: section (nor its base); reidprune scenario runs the design "
                                      + "scenarios a scenario recipe describes (see configs/scenarios/), reidprune train runs this one")
                }
                return try ScenarioConfig.parse(file)
            }
            try Scenario(config: c, comm: comm, log: Console.line).run()
        }
    }
}
