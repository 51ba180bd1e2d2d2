import ArgumentParser
import Tensors

@main
struct ReIDPrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reidprune", abstract: "x")
    func run() throws { print(DNNL.version) }
}
