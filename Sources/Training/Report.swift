// Report: a comparison of finished runs (for example unpruned against pruned): per run
// the parameters, GFLOPs, measured inference latency, and rank-1 and mAP (re-ID runs) or
// top-1 and top-5 (classification runs), as a table for the terminal, report.md and
// report.json. Results on synthetic data are labelled synthetic.
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
    /// "reid" or "classification".
    public var task = "reid"
    /// Square input side of a classification run (latency and GFLOPs are at it); nil for
    /// re-ID runs, measured at the report's height and width.
    public var imageSize: Int?
    /// re-ID runs.
    public var rank1: Double?
    public var mAP: Double?
    /// Classification runs.
    public var top1: Double?
    public var top5: Double?
    public var pruningRounds: Int
}

public enum Report {
    /// Reads `results.json` (re-ID or classification) and `model.safetensors` of each run
    /// and measures latency (re-ID runs at `height` x `width`, classification runs at their
    /// own input size).
    public static func rows(runs: [(name: String, dir: String)], height: Int, width: Int, threads: Int) throws -> [ReportRow] {
        try runs.map { name, dir in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isFolder), isFolder.boolValue else {
                throw ConfigError("--run \(name)=\(dir): no such run folder")
            }
            guard let data = FileManager.default.contents(atPath: dir + "/results.json") else {
                throw ConfigError("\(dir): no results.json (has the run finished?)")
            }
            let file = try SafetensorsFile(path: dir + "/model.safetensors")
            let arch = try ModelWeights.loadNet(file).architecture
            let history = try PrunePlan.history(in: file.metadata).count
            var row: ReportRow
            do {
                if RunOutcome.task(ofResults: data) == "classification" {
                    let r = try JSONDecoder().decode(ClassificationResult.self, from: data)
                    row = ReportRow(name: name, run: dir, arch: r.arch, dataset: r.dataset, synthetic: r.synthetic,
                                    params: r.params, gflops: r.gflops, latencyBatch32Ms: 0, latencyBatch1Ms: 0,
                                    task: r.task, imageSize: r.imageSize, top1: r.top1, top5: r.top5, pruningRounds: history)
                } else {
                    let r = try JSONDecoder().decode(RunResult.self, from: data)
                    row = ReportRow(name: name, run: dir, arch: r.arch, dataset: r.dataset, synthetic: r.synthetic,
                                    params: r.params, gflops: r.gflops, latencyBatch32Ms: 0, latencyBatch1Ms: 0,
                                    rank1: r.rank1, mAP: r.mAP, pruningRounds: history)
                }
            } catch {
                throw ConfigError("\(dir)/results.json: unreadable: \(error)")
            }
            let (h, w) = row.imageSize.map { ($0, $0) } ?? (height, width)
            let b32 = try ModelBenchmark.run(training: false, architecture: arch, archName: row.arch, height: h,
                                             width: w, batch: 32, threads: threads, steps: 5)
            let b1 = try ModelBenchmark.run(training: false, architecture: arch, archName: row.arch, height: h,
                                            width: w, batch: 1, threads: threads, steps: 9)
            row.latencyBatch32Ms = 1000 / b32.images_per_s
            row.latencyBatch1Ms = b1.ms_per_step
            return row
        }
    }

    public static func markdown(_ rows: [ReportRow]) -> String {
        var s = ""
        if rows.contains(where: \.synthetic) {
            s += "Results on synthetic data (SynthReID or its classification sets): they show relative effects, not real-data accuracy.\n\n"
        }
        let classification = rows.contains { $0.task == "classification" }, reid = rows.contains { $0.task != "classification" }
        func percent(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "–" }
        // One pair of accuracy columns per task present; classification rows name their input size.
        var header = "| model | arch | data | params (M) | GFLOPs | ms/image (batch 32) | ms/image (batch 1) |"
        if reid { header += " rank-1 | mAP |" }
        if classification { header += " top-1 | top-5 | input |" }
        s += header + "\n|" + String(repeating: "---|", count: header.filter { $0 == "|" }.count - 1) + "\n"
        for r in rows {
            s += String(format: "| %@ | %@ | %@%@ | %.2f | %.3f | %.2f | %.2f |", r.name, r.arch, r.dataset,
                        r.synthetic ? " (synthetic)" : "", Double(r.params) / 1e6, r.gflops, r.latencyBatch32Ms,
                        r.latencyBatch1Ms)
            if reid { s += " \(percent(r.rank1)) | \(percent(r.mAP)) |" }
            if classification { s += " \(percent(r.top1)) | \(percent(r.top5)) | \(r.imageSize.map { "\($0)x\($0)" } ?? "–") |" }
            s += "\n"
        }
        return s
    }

    /// Writes report.md, report.json, the runs' training curves overlaid (SVG) and
    /// report.html (the table and the curves) into `dir`, all or none: every file is made
    /// (and every run's logs read) before any is written. Returns the file names.
    @discardableResult
    public static func write(_ rows: [ReportRow], runs: [(name: String, dir: String)], to dir: String) throws -> [String] {
        let synthetic = rows.contains(where: \.synthetic)
        let loaded = try runs.map { try TrainingCurves.Run(name: $0.name, directory: $0.dir) }
        let curves = TrainingCurves.plots(loaded, synthetic: synthetic)
        var page = ReportPage(title: "Run comparison", synthetic: synthetic)
        // The page's banner already says when the data is synthetic.
        page.markdown(markdown(rows).split(separator: "\n").filter { !$0.hasPrefix("Results on synthetic data") }
            .joined(separator: "\n"))
        page.heading("Training curves")
        page.plots(curves.map(\.1))
        page.machine()
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        let files: [(name: String, data: Data)] = [("report.html", Data(page.render().utf8)), ("report.md", Data(markdown(rows).utf8)),
                                                   ("report.json", try e.encode(rows))]
            + curves.map { ($0.0, Data($0.1.utf8)) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.writeAll(files.map { ($0.data, dir + "/" + $0.name) })
        return files.map(\.name)
    }
}
