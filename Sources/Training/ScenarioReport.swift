// ScenarioReport: the scenario run's report: report.md (per target data set, every
// scenario and method with parameters, GFLOPs, latency, rank-1 and mAP), report.json,
// and SVG scatter plots of rank-1 and mAP against GFLOPs and against parameters.
import Foundation
import Tensors
import NN

public enum ScenarioReport {
    public static func markdown(_ rows: [ScenarioRow], synthetic: Bool) -> String {
        var s = "# Pruning scenarios\n\n"
        if synthetic {
            s += "**Synthetic data (SynthReID).** These numbers compare methods on procedurally generated pedestrians; "
                + "they are not real-data accuracy.\n\n"
        }
        s += "Scenarios: 1 prune on the source, fine-tune on the target; 2 prune on the source, fine-tune on the target, "
            + "prune again on the target; 3 fine-tune on the target, then prune on the target; 4 prune on the target "
            + "before fine-tuning; baselines unpruned. The first target is the one fine-tuned on; the others are cross-domain.\n\n"
        let targets = rows.first.map { Array($0.rank1.keys).sorted() } ?? []
        s += "| scenario | method | params (M) | GFLOPs | ms/image (batch 32) | "
            + targets.map { "\($0) rank-1 | \($0) mAP" }.joined(separator: " | ") + " |\n"
        s += "|---|---|---|---|---|" + String(repeating: "---|---|", count: targets.count) + "\n"
        for r in rows {
            s += String(format: "| %@ | %@ | %.3f | %.3f | %.2f | ", r.scenario, r.method, Double(r.params) / 1e6, r.gflops,
                        r.latencyMs)
            s += targets.map { String(format: "%.1f%% | %.1f%%", 100 * (r.rank1[$0] ?? 0), 100 * (r.mAP[$0] ?? 0)) }
                .joined(separator: " | ") + " |\n"
        }
        s += "\nPlots: rank1_vs_gflops.svg, map_vs_gflops.svg, rank1_vs_params.svg, map_vs_params.svg (first target).\n"
        return s
    }

    /// A scatter plot of (x, y, label) points.
    public static func svg(_ points: [(Double, Double, String)], xLabel: String, yLabel: String, title: String) -> String {
        let (w, h, m) = (640.0, 420.0, 60.0)
        let xs = points.map(\.0), ys = points.map(\.1)
        let (x0, x1) = (0.0, (xs.max() ?? 1) * 1.1), (y0, y1) = (max(0, (ys.min() ?? 0) - 0.05), min(1, (ys.max() ?? 1) + 0.05))
        func px(_ x: Double) -> Double { m + (x - x0) / max(x1 - x0, 1e-9) * (w - 1.5 * m) }
        func py(_ y: Double) -> Double { h - m - (y - y0) / max(y1 - y0, 1e-9) * (h - 1.8 * m) }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(w / 2)\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">\(esc(title))</text>\n"
        out += "<line x1=\"\(m)\" y1=\"\(h - m)\" x2=\"\(w - m / 2)\" y2=\"\(h - m)\" stroke=\"black\"/>\n"
        out += "<line x1=\"\(m)\" y1=\"\(h - m)\" x2=\"\(m)\" y2=\"\(m * 0.8)\" stroke=\"black\"/>\n"
        out += "<text x=\"\(w / 2)\" y=\"\(h - 18)\" text-anchor=\"middle\">\(esc(xLabel))</text>\n"
        out += "<text x=\"16\" y=\"\(h / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(h / 2))\">\(esc(yLabel))</text>\n"
        for k in 0...4 {
            let xv = x0 + (x1 - x0) * Double(k) / 4, yv = y0 + (y1 - y0) * Double(k) / 4
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>\n", px(xv), h - m + 16, xv)
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n", m - 6, py(yv) + 4, 100 * yv)
        }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
        for (i, p) in points.enumerated() {
            let c = colors[i % colors.count]
            out += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%@\"/>\n", px(p.0), py(p.1), c)
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"%@\">%@</text>\n", px(p.0) + 7, py(p.1) - 6, c, esc(p.2))
        }
        return out + "</svg>\n"
    }

    public static func write(_ rows: [ScenarioRow], synthetic: Bool, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(Data(markdown(rows, synthetic: synthetic).utf8), to: dir + "/report.md")
        struct Doc: Encodable { let synthetic: Bool; let rows: [ScenarioRow] }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try e.encode(Doc(synthetic: synthetic, rows: rows)), to: dir + "/report.json")
        guard let first = rows.first?.rank1.keys.sorted().first else { return }
        let tag = synthetic ? " (synthetic data)" : ""
        for (metric, values) in [("rank1", rows.map { $0.rank1[first] ?? 0 }), ("map", rows.map { $0.mAP[first] ?? 0 })] {
            let label = metric == "rank1" ? "rank-1" : "mAP"
            let names = rows.map { "\($0.scenario == "baseline" ? "" : "S\($0.scenario) ")\($0.method)" }
            try AtomicFile.write(Data(svg(zip(zip(rows.map(\.gflops), values), names).map { ($0.0, $0.1, $1) },
                                          xLabel: "GFLOPs", yLabel: "\(label) on \(first)",
                                          title: "\(label) against GFLOPs\(tag)").utf8), to: dir + "/\(metric)_vs_gflops.svg")
            try AtomicFile.write(Data(svg(zip(zip(rows.map { Double($0.params) / 1e6 }, values), names).map { ($0.0, $0.1, $1) },
                                          xLabel: "parameters (M)", yLabel: "\(label) on \(first)",
                                          title: "\(label) against parameters\(tag)").utf8), to: dir + "/\(metric)_vs_params.svg")
        }
    }
}
