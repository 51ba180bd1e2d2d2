// RunPage: report.html of one run folder (re-ID or classification) — the final results, training curves,
// pruning history per round, the recipe and the machine; written when a run ends.
import Foundation

public enum RunPage {
    /// Writes `dir/report.html` from `result` and the folder's metrics.jsonl and config.yaml.
    public static func write(_ result: RunResult, directory dir: String) throws {
        var page = ReportPage(title: "Run \((dir as NSString).lastPathComponent)", synthetic: result.synthetic)
        page.markdown(String(format: """
            # Results

            | data set | arch | params (M) | GFLOPs | epochs | rank-1 | rank-5 | mAP | mINP | training (s) |
            |---|---|---|---|---|---|---|---|---|---|
            | %@%@ | %@ | %.3f | %.3f | %@ | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.0f |
            """, result.dataset, result.synthetic ? " (synthetic)" : "", result.arch, Double(result.params) / 1e6,
            result.gflops, trained(result.epochs, result.iterations), 100 * result.rank1, 100 * result.rank5, 100 * result.mAP, 100 * result.mINP,
            result.trainSeconds))
        if let run = try? TrainingCurves.Run(name: "run", directory: dir) { page.run(run, directory: dir) }
        page.machine()
        try page.write(to: dir + "/report.html")
    }

    /// Writes `dir/report.html` of a classification run from `result` and the folder's
    /// metrics.jsonl and config.yaml.
    public static func write(_ result: ClassificationResult, directory dir: String) throws {
        var page = ReportPage(title: "Run \((dir as NSString).lastPathComponent)", synthetic: result.synthetic)
        page.markdown(String(format: """
            # Results (classification)

            | data set | classes | arch | params (M) | GFLOPs (%dx%d) | epochs | top-1 | top-5 | val images | pruning rounds | training (s) |
            |---|---|---|---|---|---|---|---|---|---|---|
            | %@%@ | %d | %@ | %.3f | %.3f | %@ | %.1f%% | %.1f%% | %d | %d | %.0f |
            """, result.imageSize, result.imageSize, result.dataset, result.synthetic ? " (synthetic)" : "", result.numClasses,
            result.arch, Double(result.params) / 1e6, result.gflops, trained(result.epochs, result.iterations), 100 * result.top1, 100 * result.top5,
            result.images, result.pruningRounds, result.trainSeconds))
        if let run = try? TrainingCurves.Run(name: "run", directory: dir) { page.run(run, directory: dir) }
        page.machine()
        try page.write(to: dir + "/report.html")
    }

    /// The epochs column: the epochs completed, and the iterations when train.max_iterations cut the run.
    static func trained(_ epochs: Int, _ iterations: Int?) -> String {
        iterations.map { "\(epochs) (\($0) iterations, train.max_iterations)" } ?? "\(epochs)"
    }
}
