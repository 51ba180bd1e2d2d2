// Report: a comparison of finished runs (for example unpruned against pruned): per run
// the parameters, GFLOPs, measured inference latency, rank-1 and mAP, as a table for the
// terminal, report.md and report.json. Results on SynthReID are labelled synthetic.
import Foundation
import Tensors
import NN
import Pruning

public struct ReportRow: Codable, Sendable {
    public var name: String
    public var run: String
    public var arch: String
    public var dataset: String
    public var synthetic: Bool
    public var params: Int
    public var gflops: Double
    /// Milliseconds per image at batch 32 and at batch 1 (eval-mode forward).
    public var latencyBatch32Ms: Double
    public var latencyBatch1Ms: Double
    public var rank1: Double
    public var mAP: Double
    public var pruningRounds: Int
}

public enum Report {
    /// Reads `results.json` and `model.safetensors` of each run and measures latency.
    public static func rows(runs: [(name: String, dir: String)], height: Int, width: Int, threads: Int) throws -> [ReportRow] {
        try runs.map { name, dir in
            guard let data = FileManager.default.contents(atPath: dir + "/results.json") else {
                throw ConfigError("\(dir): no results.json (has the run finished?)")
            }
            let r = try JSONDecoder().decode(RunResult.self, from: data)
            let file = try SafetensorsFile(path: dir + "/model.safetensors")
            let arch = try ModelWeights.loadNet(dir + "/model.safetensors").architecture
            let history = try PrunePlan.history(in: file.metadata).count
            let b32 = try ModelBenchmark.run(training: false, architecture: arch, archName: r.arch, height: height,
                                             width: width, batch: 32, threads: threads, steps: 5)
            let b1 = try ModelBenchmark.run(training: false, architecture: arch, archName: r.arch, height: height,
                                            width: width, batch: 1, threads: threads, steps: 9)
            return ReportRow(name: name, run: dir, arch: r.arch, dataset: r.dataset, synthetic: r.synthetic, params: r.params,
                             gflops: r.gflops, latencyBatch32Ms: 1000 / b32.images_per_s,
                             latencyBatch1Ms: b1.ms_per_step, rank1: r.rank1, mAP: r.mAP, pruningRounds: history)
        }
    }

    public static func markdown(_ rows: [ReportRow]) -> String {
        var s = ""
        if rows.contains(where: \.synthetic) {
            s += "Results on SynthReID, a synthetic data set: they show relative effects, not real-data accuracy.\n\n"
        }
        s += "| model | arch | data | params (M) | GFLOPs | ms/image (batch 32) | ms/image (batch 1) | rank-1 | mAP |\n"
        s += "|---|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            s += String(format: "| %@ | %@ | %@%@ | %.2f | %.3f | %.2f | %.2f | %.1f%% | %.1f%% |\n", r.name, r.arch, r.dataset,
                        r.synthetic ? " (synthetic)" : "", Double(r.params) / 1e6, r.gflops, r.latencyBatch32Ms,
                        r.latencyBatch1Ms, 100 * r.rank1, 100 * r.mAP)
        }
        return s
    }

    /// Writes report.md and report.json into `dir`.
    public static func write(_ rows: [ReportRow], to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(Data(markdown(rows).utf8), to: dir + "/report.md")
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try e.encode(rows), to: dir + "/report.json")
    }

    /// Writes `dir/report.html`: the table and the runs' training curves overlaid.
    public static func writePage(_ rows: [ReportRow], runs: [(name: String, dir: String)], to dir: String) throws {
        var page = ReportPage(title: "Run comparison", synthetic: rows.contains(where: \.synthetic))
        // The page's banner already says when the data is synthetic.
        page.markdown(markdown(rows).split(separator: "\n").filter { !$0.hasPrefix("Results on SynthReID") }
            .joined(separator: "\n"))
        let loaded = try runs.map { try TrainingCurves.Run(name: $0.name, directory: $0.dir) }
        page.heading("Training curves")
        page.plots(TrainingCurves.plots(loaded, synthetic: page.synthetic).map(\.1))
        page.machine()
        try page.write(to: dir + "/report.html")
    }
}
