// ReportPage+Sections: the sections every report page shares — the machine
// (CPU model and cores), a run's recipe, curves and pruning history as an SVG heat
// map (Plots.HeatMap) of channels kept per group and round.
import Foundation
import Plots

extension ReportPage {
    /// CPU model from /proc/cpuinfo and the cores this process sees.
    public static func machineDescription() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = info.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
        return "\(model ?? "unknown CPU"), \(ProcessInfo.processInfo.activeProcessorCount) cores available"
    }

    /// The machine section.
    public mutating func machine() {
        heading("Machine")
        html("<p>\(SVGText.escape(Self.machineDescription()))</p>\n")
    }

    /// A run folder's sections: curves, pruning history, recipe (config.yaml).
    public mutating func run(_ run: TrainingCurves.Run, directory dir: String) {
        heading("Training curves")
        plots(TrainingCurves.plots([run], synthetic: synthetic).map(\.1))
        pruningHistory(run.rows.filter { $0["event"] as? String == "prune" })
        if let yaml = try? String(contentsOfFile: dir + "/config.yaml", encoding: .utf8) {
            heading("Recipe (config.yaml)")
            preformatted(yaml)
        }
    }

    /// Channels kept per group after each pruning round as a heat map (Plots.HeatMap): a
    /// row per group, a column per round, cells "kept / before the round" shaded by the
    /// share of the group's width at the start; nothing when there were no rounds.
    public mutating func pruningHistory(_ rounds: [[String: Any]]) {
        guard !rounds.isEmpty else { return }
        heading("Pruning history: channels kept per group and round")
        plots([Self.pruningHeatMap(rounds).render()])
        let costs = rounds.map { r in
            String(format: "round %d: %.3g GFLOPs", r["round"] as? Int ?? 0, r["gflops_after"] as? Double ?? 0)
        }
        html("<p>GFLOPs per image after each round: \(SVGText.escape(costs.joined(separator: ", ")))</p>\n")
    }

    /// The heat map of `rounds` (metrics-log rows of event "prune" with channels and channels_before).
    static func pruningHeatMap(_ rounds: [[String: Any]]) -> HeatMap {
        let channels = rounds.map { $0["channels"] as? [String: Int] ?? [:] }
        let before = rounds.map { $0["channels_before"] as? [String: Int] ?? [:] }
        let groups = Set(channels.flatMap(\.keys)).sorted { a, b in a.localizedStandardCompare(b) == .orderedAscending }
        let cells = groups.map { g -> [HeatMap.Cell?] in
            // The group's width at the start: before the first round that names it.
            let start = Double(max(1, zip(channels, before).lazy.compactMap { c, b in b[g] ?? c[g] }.first ?? 1))
            return zip(zip(channels, before), rounds).map { pair, r -> HeatMap.Cell? in
                let (c, b) = pair
                guard let kept = c[g] else { return nil }
                let of = b[g].map { " / \($0)" } ?? ""
                return HeatMap.Cell(value: Double(kept) / start, text: "\(kept)\(of)",
                                    title: "\(g), round \(r["round"] as? Int ?? 0): \(kept)\(of) channels kept, "
                                        + String(format: "%.0f%% of the %d at the start", 100 * Double(kept) / start, Int(start)))
            }
        }
        return HeatMap(title: "channels kept (kept / before the round)", rowLabels: groups,
                       columnLabels: rounds.map { "round \($0["round"] as? Int ?? 0)" }, cells: cells,
                       scaleLabel: "of the group's width at the start")
    }
}
