// ScenarioPlotsTests: the scenario plots on hand rows — all five files, a legend,
// baselines as reference lines, and no two point labels overlapping.
import XCTest
import Foundation
@testable import Training

final class ScenarioPlotsTests: XCTestCase {
    static func rows() -> [ScenarioRow] {
        var rows = [ScenarioRow(scenario: "baseline", method: "unpruned", stage: "", arch: "r18", params: 2_800_000,
                                gflops: 0.0382, latencyMs: 3.1, rank1: ["market": 0.071], mAP: ["market": 0.052])]
        for (k, method) in ["taylor-fo", "l1-norm"].enumerated() {
            for s in 1...4 {
                rows.append(ScenarioRow(scenario: "\(s)", method: method, stage: "", arch: "r18", params: 1_400_000,
                                        gflops: 0.0191, latencyMs: 1.7 + 0.1 * Double(s),
                                        rank1: ["market": 0.05 + 0.004 * Double(s + k)], mAP: ["market": 0.04 + 0.002 * Double(s)]))
            }
        }
        return rows
    }

    func testFivePlotsWithLegendReferencesAndNoOverlap() throws {
        let plots = ScenarioPlots.plots(Self.rows(), synthetic: true)
        XCTAssertEqual(plots.map(\.0), ScenarioPlots.files)
        for (name, svg) in plots {
            XCTAssertTrue(svg.contains("class=\"legend\""), name)
            XCTAssertTrue(svg.contains("class=\"reference\""), name)
            XCTAssertTrue(svg.contains("synthetic data"), name)
            let re = try NSRegularExpression(pattern: "data-label-box=\"([^\"]+)\"")
            let boxes = re.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { m in
                String(svg[Range(m.range(at: 1), in: svg)!]).split(separator: " ").map { Double($0)! }
            }
            XCTAssertGreaterThan(boxes.count, 2, name)
            for (i, a) in boxes.enumerated() {
                XCTAssertTrue(a[0] >= 0 && a[1] >= 0 && a[0] + a[2] <= 720 && a[1] + a[3] <= 440, name)
                for b in boxes[(i + 1)...] {
                    XCTAssertFalse(a[0] < b[0] + b[2] - 1e-6 && b[0] < a[0] + a[2] - 1e-6
                                   && a[1] < b[1] + b[3] - 1e-6 && b[1] < a[1] + a[3] - 1e-6, name)
                }
            }
        }
        if let dir = ProcessInfo.processInfo.environment["REIDPRUNE_PLOTS_OUT"] {
            try ScenarioReport.write(Self.rows(), synthetic: true, to: dir)
        }
    }
}
