// `reidprune report`: compares finished runs (unpruned against pruned, for example):
// parameters, GFLOPs, measured latency, rank-1 and mAP; prints the table and writes
// report.md and report.json, and the runs' training curves overlaid.
import ArgumentParser
import Foundation
import Tensors
import Training

struct ReportError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Compare finished runs: size, FLOPs, latency, rank-1 and mAP.")

    @Option(name: .customLong("run"), help: "NAME=RUN_DIR (repeatable).") var runs: [String]
    @Option(help: "Input height for latency.") var height = 256
    @Option(help: "Input width for latency.") var width = 128
    @Option(help: "Threads for latency.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Folder for report.html, report.md, report.json and the training curves (SVG).") var out: String?

    func validate() throws {
        if let problem = ImageLimits.optionProblem(height: height, width: width) { throw ValidationError(problem) }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1 to 1024, got \(threads)") }
        for s in runs where !s.contains("=") { throw ValidationError("--run expects NAME=RUN_DIR, got '\(s)'") }
    }

    func run() throws {
        let pairs = runs.map { s -> (name: String, dir: String) in
            let eq = s.firstIndex(of: "=")!
            return (String(s[..<eq]), String(s[s.index(after: eq)...]))
        }
        // The output folder must be one that can be made or written before latency is measured.
        if let out, let problem = FileProblem.folder(out) { throw ReportError("\(out): cannot write: \(problem)") }
        let rows = try Report.rows(runs: pairs, height: height, width: width, threads: threads)
        print(Report.markdown(rows), terminator: "")
        if let out {
            let files = try Report.write(rows, runs: pairs, to: out)
            print("wrote \(out)/" + files.joined(separator: ", "))
        }
    }
}
