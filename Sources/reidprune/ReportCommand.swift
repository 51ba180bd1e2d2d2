// `reidprune report`: compares finished runs (unpruned against pruned, for example):
// parameters, GFLOPs, measured latency, rank-1 and mAP; prints the table and writes
// report.md and report.json, and the runs' training curves overlaid.
import ArgumentParser
import Foundation
import Training

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Compare finished runs: size, FLOPs, latency, rank-1 and mAP.")

    @Option(name: .customLong("run"), help: "NAME=RUN_DIR (repeatable).") var runs: [String]
    @Option(help: "Input height for latency.") var height = 256
    @Option(help: "Input width for latency.") var width = 128
    @Option(help: "Threads for latency.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Folder for report.md and report.json.") var out: String?

    func run() throws {
        let pairs = try runs.map { s -> (String, String) in
            guard let eq = s.firstIndex(of: "=") else { throw ValidationError("--run expects NAME=RUN_DIR, got '\(s)'") }
            return (String(s[..<eq]), String(s[s.index(after: eq)...]))
        }
        let rows = try Report.rows(runs: pairs.map { (name: $0.0, dir: $0.1) }, height: height, width: width, threads: threads)
        print(Report.markdown(rows), terminator: "")
        if let out {
            try Report.write(rows, to: out)
            let curves = try TrainingCurves.write(runs: pairs.map { (name: $0.0, dir: $0.1) },
                                                  synthetic: rows.contains(where: \.synthetic), to: out)
            try Report.writePage(rows, runs: pairs.map { (name: $0.0, dir: $0.1) }, to: out)
            print("wrote \(out)/report.html, report.md, report.json and " + curves.joined(separator: ", "))
        }
    }
}
