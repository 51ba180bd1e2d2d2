// ScenarioReport: the scenario run's report: report.md (per target data set, every
// scenario and method with parameters, GFLOPs, latency, rank-1 and mAP), report.json,
// (through ScenarioPlots) SVG plots of rank-1 and mAP against GFLOPs, parameters and latency,
// and report.html with them and what pruning changed in the rank lists (ScenarioComparison).
import Foundation
import Tensors
import NN

public enum ScenarioReport {
    /// `target`: the data set fine-tuned on (the first of `scenario.targets`), whose
    /// results the study's tables and the plots show; nil: the first name in order.
    public static func markdown(_ rows: [ScenarioRow], synthetic: Bool, target: String? = nil) -> String {
        var s = "# Pruning scenarios\n\n"
        if synthetic {
            s += "**Synthetic data (SynthReID).** These numbers compare methods on procedurally generated pedestrians; "
                + "they are not real-data accuracy.\n\n"
        }
        s += "Scenarios: 1 prune on the source, fine-tune on the target; 2 prune on the source, fine-tune on the target, "
            + "prune again on the target; 3 fine-tune on the target, then prune on the target; 4 prune on the target "
            + "before fine-tuning; baselines unpruned. The first target is the one fine-tuned on; the others are cross-domain.\n\n"
        let names = rows.first { $0.note == nil }.map { Array($0.rank1.keys).sorted() } ?? []
        // The fine-tuned target first, the cross-domain ones after it.
        let targets = target.map { t in [t] + names.filter { $0 != t } } ?? names
        s += "| scenario | method | params (M) | GFLOPs | ms/image (batch 32) | "
            + targets.map { "\($0) rank-1 | \($0) mAP" }.joined(separator: " | ") + " |\n"
        s += "|---|---|---|---|---|" + String(repeating: "---|---|", count: targets.count) + "\n"
        for r in rows {
            if let note = r.note {
                let cells = [r.scenario, r.method, note, "", ""] + Array(repeating: "n/a", count: 2 * targets.count)
                s += "| " + cells.joined(separator: " | ") + " |\n"
                continue
            }
            s += String(format: "| %@ | %@ | %.3f | %.3f | %.2f | ", r.scenario, r.method, Double(r.params) / 1e6, r.gflops,
                        r.latencyMs)
            s += targets.map { String(format: "%.1f%% | %.1f%%", 100 * (r.rank1[$0] ?? 0), 100 * (r.mAP[$0] ?? 0)) }
                .joined(separator: " | ") + " |\n"
        }
        if let first = targets.first { s += "\n" + ScenarioClaims.markdown(rows, target: first) }
        s += "\nPlots: rank1_vs_gflops.svg, map_vs_gflops.svg, rank1_vs_params.svg, map_vs_params.svg, rank1_vs_latency.svg (first target).\n"
        return s
    }

    /// Writes report.md, report.json, the plots and report.html (with `comparisons`: what
    /// each pruned model retrieves differently from `reference`, the unpruned model).
    public static func write(_ rows: [ScenarioRow], synthetic: Bool, comparisons: [ScenarioComparison] = [],
                             reference: String = "", target: String? = nil, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(Data(markdown(rows, synthetic: synthetic, target: target).utf8), to: dir + "/report.md")
        struct Doc: Encodable { let synthetic: Bool; let rows: [ScenarioRow]; let claims: [ScenarioClaims.Claim] }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try e.encode(Doc(synthetic: synthetic, rows: rows, claims: rows.first { $0.note == nil }
            .flatMap { $0.rank1.keys.sorted().first }.map { ScenarioClaims.check(rows, target: target ?? $0) } ?? [])), to: dir + "/report.json")
        try ScenarioPlots.write(rows, synthetic: synthetic, target: target, to: dir)
        var page = ReportPage(title: "Pruning scenarios", synthetic: synthetic)
        page.markdown(markdown(rows, synthetic: false, target: target).split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
            .joined(separator: "\n"))
        page.plots(ScenarioPlots.plots(rows, synthetic: synthetic, target: target).map(\.1))
        ScenarioComparison.section(comparisons, reference: reference, into: &page)
        page.machine()
        try page.write(to: dir + "/report.html")
    }
}
