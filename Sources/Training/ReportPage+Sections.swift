// ReportPage+Sections: the sections every report page shares — the machine
// (CPU model and cores), a run's recipe, curves and pruning history as a heat map
// of channels kept per group and round.
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

    /// Channels kept per group after each pruning round ("kept / before the round"), shaded by
    /// the share of the group's largest count (a heat map); nothing when there were no rounds.
    public mutating func pruningHistory(_ rounds: [[String: Any]]) {
        let channels = rounds.map { $0["channels"] as? [String: Int] ?? [:] }
        guard !rounds.isEmpty else { return }
        heading("Pruning history: channels kept per group (kept / before the round)")
        var s = "<table class=\"history\"><tr><th>group</th>"
        s += rounds.map { r in
            "<th>round \(r["round"] as? Int ?? 0)<br>" + String(format: "%.3g GFLOPs", r["gflops_after"] as? Double ?? 0) + "</th>"
        }.joined() + "</tr>\n"
        let groups = Set(channels.flatMap(\.keys)).sorted { a, b in a.localizedStandardCompare(b) == .orderedAscending }
        let before = rounds.map { $0["channels_before"] as? [String: Int] ?? [:] }
        for g in groups {
            let top = Double(max(1, (channels + before).compactMap { $0[g] }.max() ?? 1))
            s += "<tr><td>\(SVGText.escape(g))</td>" + zip(channels, before).map { c, b in
                guard let n = c[g] else { return "<td></td>" }
                let shade = Int(255 - 120 * Double(n) / top), of = b[g].map { " / \($0)" } ?? ""
                return "<td style=\"background: rgb(\(shade), \(shade), 255)\">\(n)\(of)</td>"
            }.joined() + "</tr>\n"
        }
        html(s + "</table>\n")
    }
}
