// ScenarioClaims: the study's claims (Masson et al.) checked against a scenario run's
// rows, each stated with the numbers that support or contradict it here: rank-1 within
// one point at half the FLOPs when pruning on the source; scenario 1 best and 4 worst;
// PSFP (soft_filter) most robust when pruning on the target; a pruned ResNet-50 above
// ResNet-18/34 of no more FLOPs. Also the study's per-scenario tables (rows per
// criterion) and the pruned-against-smaller-networks table, on the first target.
import Foundation

public enum ScenarioClaims {
    /// A claim's verdict: "supported", "contradicted", "tied" (the claimed best shares
    /// the best value) or "not tested", with its numbers.
    public struct Claim: Codable, Sendable, Equatable {
        public var claim: String
        public var verdict: String
        public var numbers: String
    }

    static func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
    static func pts(_ x: Double) -> String { String(format: "%+.1f", 100 * x) }

    /// The main model's unpruned row (its method is "unpruned <arch>", the largest such).
    static func unpruned(_ rows: [ScenarioRow]) -> ScenarioRow? {
        rows.filter { $0.scenario == "baseline" && $0.note == nil }.max { $0.gflops < $1.gflops }
    }

    /// Every claim, judged on `target` (rank-1 and mAP of that data set).
    public static func check(_ rows: [ScenarioRow], target: String) -> [Claim] {
        let live = rows.filter { $0.note == nil }
        func r1(_ r: ScenarioRow) -> Double { r.rank1[target] ?? 0 }
        func mAP(_ r: ScenarioRow) -> Double { r.mAP[target] ?? 0 }
        var claims: [Claim] = []
        let base = unpruned(live)

        // 1. Pruning on the source keeps rank-1 within one point at half the FLOPs.
        let s1 = live.filter { $0.scenario == "1" }
        if let base, !s1.isEmpty {
            // Within one point: at most one point below (above is within too).
            let within = s1.filter { r1(base) - r1($0) <= 0.01 + 1e-12 }
            let list = s1.map { "\($0.method) \(pts(r1($0) - r1(base))) at \(pct($0.gflops / base.gflops)) of the FLOPs" }
            claims.append(Claim(claim: "rank-1 at most one point below the unpruned model at half the FLOPs when pruning on the source (scenario 1)",
                                verdict: within.count == s1.count ? "supported" : "contradicted",
                                numbers: "\(within.count) of \(s1.count) criteria within one point of \(pct(r1(base))): "
                                    + list.joined(separator: "; ")))
        } else {
            claims.append(Claim(claim: "rank-1 within one point at half the FLOPs when pruning on the source", verdict: "not tested",
                                numbers: "needs scenario 1 and the unpruned model"))
        }

        // 2. Scenario 1 best, scenario 4 worst (mean rank-1 over the criteria every scenario ran).
        let scenarios = Set(live.map(\.scenario)).subtracting(["baseline"]).sorted()
        let common = Set(live.map(\.method)).filter { m in scenarios.allSatisfy { s in live.contains { $0.scenario == s && $0.method == m } } }
        if scenarios.contains("1"), scenarios.contains("4"), scenarios.count >= 3, !common.isEmpty {
            let means = scenarios.map { s -> (String, Double) in
                let v = live.filter { $0.scenario == s && common.contains($0.method) }.map(r1)
                return (s, v.reduce(0, +) / Double(v.count))
            }
            let best = means.max { $0.1 < $1.1 }!.0, worst = means.min { $0.1 < $1.1 }!.0
            claims.append(Claim(claim: "scenario 1 gives the best and scenario 4 the worst accuracy",
                                verdict: best == "1" && worst == "4" ? "supported" : "contradicted",
                                numbers: "mean rank-1 over \(common.sorted().joined(separator: ", ")): "
                                    + means.map { "S\($0.0) \(pct($0.1))" }.joined(separator: ", ")))
        } else {
            claims.append(Claim(claim: "scenario 1 best and 4 worst", verdict: "not tested",
                                numbers: "needs scenarios 1, 4 and another, with criteria in common"))
        }

        // 3. PSFP is the most robust when pruning on the (small) target set (scenario 3).
        let s3 = live.filter { $0.scenario == "3" }
        if let soft = s3.first(where: { $0.method == "soft_filter" }), s3.count >= 2 {
            let others = s3.filter { $0.method != "soft_filter" }.map(r1).max()!
            claims.append(Claim(claim: "PSFP (soft_filter) is the most robust criterion when pruning on the target (scenario 3)",
                                verdict: r1(soft) > others ? "supported" : (r1(soft) == others ? "tied" : "contradicted"),
                                numbers: "scenario 3 rank-1: " + s3.sorted { r1($0) > r1($1) }.map { "\($0.method) \(pct(r1($0)))" }
                                    .joined(separator: ", ") + " (soft_filter \(pct(r1(soft))))"))
        } else {
            claims.append(Claim(claim: "PSFP most robust when pruning on the target", verdict: "not tested",
                                numbers: "needs soft_filter and another criterion in scenario 3"))
        }

        // 4. A pruned ResNet-50 beats ResNet-18/34 trained the same way at no more FLOPs.
        let small = live.filter { $0.scenario == "baseline" && $0.method != base?.method }
        let pruned = live.filter { $0.scenario != "baseline" }
        if !small.isEmpty, !pruned.isEmpty {
            var holds = true
            let parts = small.sorted { $0.gflops < $1.gflops }.map { b -> String in
                let fits = pruned.filter { $0.gflops <= b.gflops * 1.0001 }
                guard let top = fits.max(by: { mAP($0) < mAP($1) }) else {
                    holds = false
                    return "\(b.method) (\(String(format: "%.3f", b.gflops)) GFLOPs): no pruned model at or below its FLOPs"
                }
                if mAP(top) <= mAP(b) { holds = false }
                return "\(b.method) \(String(format: "%.3f", b.gflops)) GFLOPs, mAP \(pct(mAP(b))), rank-1 \(pct(r1(b))) vs best pruned "
                    + "S\(top.scenario) \(top.method) \(String(format: "%.3f", top.gflops)) GFLOPs, mAP \(pct(mAP(top))) "
                    + "(\(pts(mAP(top) - mAP(b))) points), rank-1 \(pct(r1(top)))"
            }
            claims.append(Claim(claim: "a pruned ResNet-50 is more accurate than ResNet-18/34 of no more FLOPs (the study: +5.4 to +5.8 mAP)",
                                verdict: holds ? "supported" : "contradicted", numbers: parts.joined(separator: "; ")))
        } else {
            claims.append(Claim(claim: "pruned ResNet-50 above ResNet-18/34 of equal FLOPs", verdict: "not tested",
                                numbers: "needs scenario.baselines"))
        }
        return claims
    }

    /// The study's tables on `target`: per scenario, rows per criterion (rank-1, mAP,
    /// GFLOPs, parameters; "n/a" where the criterion does not apply), then the claims.
    public static func markdown(_ rows: [ScenarioRow], target: String) -> String {
        var s = "## The study's tables on \(target)\n\n"
        let base = unpruned(rows.filter { $0.note == nil })
        for scenario in ["1", "2", "3", "4"] where rows.contains(where: { $0.scenario == scenario }) {
            s += "Scenario \(scenario)" + (base.map { String(format: " (%@: rank-1 %@, mAP %@, %.3f GFLOPs)", $0.method,
                                                                 pct($0.rank1[target] ?? 0), pct($0.mAP[target] ?? 0), $0.gflops) } ?? "")
                + "\n\n| criterion | rank-1 | mAP | GFLOPs | params (M) |\n|---|---|---|---|---|\n"
            for r in rows where r.scenario == scenario {
                if let note = r.note { s += "| \(r.method) | \(note) | n/a | n/a | n/a |\n"; continue }
                s += String(format: "| %@ | %@ | %@ | %.3f | %.3f |\n", r.method, pct(r.rank1[target] ?? 0), pct(r.mAP[target] ?? 0),
                            r.gflops, Double(r.params) / 1e6)
            }
            s += "\n"
        }
        let models = rows.filter { $0.note == nil && ($0.scenario == "baseline" || $0.scenario == "1") }
        if rows.contains(where: { $0.scenario == "baseline" }) {
            s += "Pruned ResNet-50 (scenario 1) against unpruned networks\n\n| model | GFLOPs | params (M) | rank-1 | mAP |\n|---|---|---|---|---|\n"
            for r in models.sorted(by: { $0.gflops > $1.gflops }) {
                s += String(format: "| %@ | %.3f | %.3f | %@ | %@ |\n", r.scenario == "baseline" ? r.method : "pruned (S1 \(r.method))",
                            r.gflops, Double(r.params) / 1e6, pct(r.rank1[target] ?? 0), pct(r.mAP[target] ?? 0))
            }
            s += "\n"
        }
        s += "## The study's claims here\n\n"
        for c in check(rows, target: target) { s += "- **\(c.verdict)**: \(c.claim). \(c.numbers).\n" }
        return s
    }
}
