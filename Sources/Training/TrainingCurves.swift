// TrainingCurves: plots from a run folder's metrics.jsonl — loss, rank-1/mAP (top-1/top-5
// for classification runs), learning rate and data-loader wait over epochs, pruning rounds
// marked, and the GFLOPs after each round as a step line on a second axis; several runs
// overlay as one series (and one GFLOPs line) each.
import Foundation
import Plots
import Tensors

public enum TrainingCurves {
    /// A run's metrics rows, by name.
    public struct Run {
        public var name: String
        public var rows: [[String: Any]]
        public init(name: String, rows: [[String: Any]]) { self.name = name; self.rows = rows }

        /// Reads `dir/metrics.jsonl`; throws naming the file when it is missing or a line is not JSON.
        public init(name: String, directory dir: String) throws {
            let path = dir + "/metrics.jsonl"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError("\(path): cannot read the metrics log (is \(dir) a run folder?)")
            }
            var rows: [[String: Any]] = []
            for (k, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
                guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw ConfigError("\(path): line \(k + 1) is not a JSON object")
                }
                rows.append(row)
            }
            self.init(name: name, rows: rows)
        }

        func rows(_ event: String) -> [[String: Any]] { rows.filter { $0["event"] as? String == event } }

        /// (x, value) for train rows: x is the epoch plus the row's place among that epoch's rows.
        func trainSeries(_ key: String) -> [(x: Double, y: Double)] {
            let train = rows("train")
            let byEpoch = Dictionary(grouping: train.indices) { train[$0]["epoch"] as? Int ?? 0 }
            return train.indices.compactMap { i in
                guard let y = train[i][key] as? Double else { return nil }
                let e = train[i]["epoch"] as? Int ?? 0, peers = byEpoch[e] ?? [i]
                let k = peers.firstIndex(of: i) ?? 0
                return (Double(e) + Double(k + 1) / Double(peers.count), y)
            }
        }

        /// (epoch, value) for evaluations in the order logged: a pruning round's evaluations
        /// before and after it (its row's `after`) share its epoch, so the line drops there.
        func evalSeries(_ key: String) -> [(x: Double, y: Double)] {
            rows.compactMap { r -> (x: Double, y: Double)? in
                let fields: [String: Any]?
                switch r["event"] as? String {
                case "eval": fields = r
                case "prune": fields = r["after"] as? [String: Any]
                default: fields = nil
                }
                guard let fields, let y = fields[key] as? Double else { return nil }
                return (Double(r["epoch"] as? Int ?? 0), y)
            }
        }

        /// Pruning rounds: (epoch, "round N", "round N: G GFLOPs").
        var pruneMarkers: [(x: Double, label: String, title: String)] {
            rows("prune").map { r in
                let round = r["round"] as? Int ?? 0
                return (Double(r["epoch"] as? Int ?? 0), "round \(round)",
                        String(format: "round %d: %.3g GFLOPs", round, r["gflops_after"] as? Double ?? 0))
            }
        }

        /// GFLOPs per image over epochs: the first round's starting cost from epoch 0, then
        /// each round's result from its epoch; empty when the run had no pruning round.
        var flopsSteps: [(x: Double, y: Double)] {
            let rounds = rows("prune")
            guard let first = rounds.first else { return [] }
            var steps: [(x: Double, y: Double)] = []
            if let before = first["gflops_before"] as? Double { steps.append((0, before)) }
            return steps + rounds.map { (Double($0["epoch"] as? Int ?? 0), $0["gflops_after"] as? Double ?? 0) }
        }
    }

    /// The curves as (file name, SVG text): loss, evaluation, learning rate, loader wait.
    public static func plots(_ runs: [Run], synthetic: Bool) -> [(String, String)] {
        let tag = synthetic ? " (synthetic data)" : ""
        let single = runs.count == 1
        func named(_ run: Run, _ what: String) -> String { single ? what : "\(run.name) \(what)" }
        let markers = single ? runs[0].pruneMarkers : []
        var specs: [(String, String, String, TickUnit, [LinePlot.Series])] = []
        specs.append(("curve_loss.svg", "training loss", "loss", .plain,
                      runs.map { .init(name: named($0, "loss"), points: $0.trainSeries("loss")) }))
        // Classification runs log top-1/top-5 where re-ID runs log rank-1/mAP.
        let keys = { (run: Run) in run.evalSeries("top1").isEmpty ? ("rank1", "rank-1", "mAP", "mAP") : ("top1", "top-1", "top5", "top-5") }
        let kinds = Set(runs.map { keys($0).1 })
        specs.append(("curve_eval.svg", "evaluation", kinds.count == 1 && kinds.first == "top-1" ? "top-1 / top-5"
                          : kinds.count == 1 ? "rank-1 / mAP" : "rank-1 / mAP, top-1 / top-5", .percent,
                      runs.enumerated().flatMap { k, run in
                          let (a, aName, b, bName) = keys(run)
                          return [LinePlot.Series(name: named(run, aName), points: run.evalSeries(a), color: single ? 0 : k),
                                  .init(name: named(run, bName + " (dashed)"), points: run.evalSeries(b), color: single ? 1 : k,
                                        dashed: true)]
                      }))
        specs.append(("curve_lr.svg", "learning rate", "learning rate", .plain,
                      runs.map { .init(name: named($0, "lr"), points: $0.trainSeries("lr")) }))
        specs.append(("curve_loader_wait.svg", "data-loader wait per logged interval", "seconds", .plain,
                      runs.map { .init(name: named($0, "loader wait"), points: $0.trainSeries("loader_wait_seconds")) }))
        return specs.map { file, title, yLabel, unit, series in
            var p = LinePlot(title: title + tag, xLabel: "epoch", yLabel: yLabel, yUnit: unit, series: series)
            p.markers = markers
            // GFLOPs after each round on a second axis: one dark line for a single run, a dotted
            // line in each run's colour when runs are overlaid.
            let lines = runs.enumerated().filter { !$0.element.flopsSteps.isEmpty }.map { k, run in
                LinePlot.RightAxis.Line(name: named(run, "GFLOPs per image"), steps: run.flopsSteps, color: single ? nil : k)
            }
            if !lines.isEmpty, file == "curve_loss.svg" || file == "curve_eval.svg" {
                let xEnd = series.flatMap { $0.points.map(\.x) }.max() ?? 0
                p.rightAxis = .init(label: "GFLOPs per image", unit: .plain, lines: lines, xEnd: xEnd)
            }
            return (file, p.render())
        }
    }
}
