// ScenarioPlots: the scenario report's SVG plots built on Plots — rank-1 and mAP
// against GFLOPs and parameters, rank-1 against measured latency; colour per
// criterion, marker per scenario, baselines as reference lines, Pareto front.
import Foundation
import Plots
import Tensors

public enum ScenarioPlots {
    /// The file names `write` produces, in the order the HTML page shows them.
    public static let files = ["rank1_vs_gflops.svg", "map_vs_gflops.svg", "rank1_vs_params.svg", "map_vs_params.svg",
                               "rank1_vs_latency.svg"]

    /// Every plot as (file name, SVG text), for `target` (the data set fine-tuned on;
    /// nil: the first name in order).
    public static func plots(_ all: [ScenarioRow], synthetic: Bool, target: String? = nil) -> [(String, String)] {
        let rows = all.filter { $0.note == nil }
        guard let target = target ?? rows.first?.rank1.keys.sorted().first else { return [] }
        let tag = synthetic ? " (synthetic data)" : ""
        typealias Axis = (name: String, unit: TickUnit, label: String, value: (ScenarioRow) -> Double)
        let gflops: Axis = ("gflops", .plain, "GFLOPs per image", { $0.gflops })
        let params: Axis = ("params", .plain, "parameters (millions)", { Double($0.params) / 1e6 })
        let latency: Axis = ("latency", .plain, "measured latency (ms/image, batch 32)", { $0.latencyMs })
        let rank1: (String, String, (ScenarioRow) -> Double) = ("rank1", "rank-1", { $0.rank1[target] ?? 0 })
        let mAP: (String, String, (ScenarioRow) -> Double) = ("map", "mAP", { $0.mAP[target] ?? 0 })
        let combos = [(rank1, gflops), (mAP, gflops), (rank1, params), (mAP, params), (rank1, latency)]
        return combos.map { metric, axis in
            var plot = ScatterPlot(title: "\(metric.1) on \(target) against \(axis.name == "gflops" ? "GFLOPs" : axis.name)\(tag)",
                                   xLabel: axis.label, yLabel: "\(metric.1) on \(target)", xUnit: axis.unit,
                                   yUnit: .percent, points: rows.map { point($0, x: axis.value($0), y: metric.2($0)) })
            plot.references = rows.filter { $0.scenario == "baseline" }
                .map { ReferenceLine(value: metric.2($0), label: "baseline \($0.method): \(String(format: "%.1f%%", 100 * metric.2($0)))") }
            plot.paretoFront = true
            return ("\(metric.0)_vs_\(axis.name).svg", plot.render())
        }
    }

    /// One row as a point: colour by criterion (method), marker by scenario.
    static func point(_ r: ScenarioRow, x: Double, y: Double) -> PlotPoint {
        let baseline = r.scenario == "baseline"
        return PlotPoint(x: x, y: y, label: baseline ? r.method : "S\(r.scenario) \(r.method)",
                         series: baseline ? "baseline" : r.method, group: baseline ? "baseline" : "scenario \(r.scenario)")
    }

    /// Writes every plot into `dir`.
    public static func write(_ rows: [ScenarioRow], synthetic: Bool, target: String? = nil, to dir: String) throws {
        for (name, svg) in plots(rows, synthetic: synthetic, target: target) {
            try AtomicFile.write(Data(svg.utf8), to: dir + "/" + name)
        }
    }
}
