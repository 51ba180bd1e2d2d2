// The study's claims judged on hand-made scenario rows: each verdict and the numbers
// it states, a contradicted claim, an untested one, and the tables in report.md.
import Foundation
import Training
import XCTest

final class ScenarioClaimsTests: XCTestCase {
    func row(_ scenario: String, _ method: String, gflops: Double, r1: Double, mAP: Double, note: String? = nil) -> ScenarioRow {
        ScenarioRow(scenario: scenario, method: method, stage: "", arch: "", params: Int(gflops * 1e6), gflops: gflops,
                    latencyMs: 1, rank1: note == nil ? ["t": r1] : [:], mAP: note == nil ? ["t": mAP] : [:], note: note)
    }

    var rows: [ScenarioRow] {
        [row("baseline", "unpruned resnet50", gflops: 4, r1: 0.80, mAP: 0.60),
         row("baseline", "unpruned resnet18", gflops: 2, r1: 0.70, mAP: 0.50),
         row("1", "l1", gflops: 1.9, r1: 0.795, mAP: 0.58), row("1", "soft_filter", gflops: 1.9, r1: 0.792, mAP: 0.57),
         row("2", "l1", gflops: 1.9, r1: 0.72, mAP: 0.5), row("2", "soft_filter", gflops: 1.9, r1: 0.74, mAP: 0.5),
         row("3", "l1", gflops: 1.9, r1: 0.70, mAP: 0.5), row("3", "soft_filter", gflops: 1.9, r1: 0.75, mAP: 0.5),
         row("4", "l1", gflops: 1.9, r1: 0.60, mAP: 0.4), row("4", "soft_filter", gflops: 0, r1: 0, mAP: 0, note: "not applicable")]
    }

    func testClaimsOnHandMadeRows() {
        let claims = ScenarioClaims.check(rows, target: "t")
        XCTAssertEqual(claims.map(\.verdict), ["supported", "supported", "supported", "supported"])
        XCTAssertTrue(claims[0].numbers.hasPrefix("2 of 2 criteria within one point of 80.0%: l1 -0.5 at 47.5% of the FLOPs"),
                      claims[0].numbers)
        XCTAssertEqual(claims[1].numbers, "mean rank-1 over l1: S1 79.5%, S2 72.0%, S3 70.0%, S4 60.0%",
                       "soft_filter is not applicable in scenario 4, so only l1 is common")
        XCTAssertTrue(claims[2].numbers.hasPrefix("scenario 3 rank-1: soft_filter 75.0%, l1 70.0%"), claims[2].numbers)
        XCTAssertTrue(claims[3].numbers.contains("unpruned resnet18 2.000 GFLOPs, mAP 50.0%, rank-1 70.0% vs best pruned S1 l1 "
                                                 + "1.900 GFLOPs, mAP 58.0% (+8.0 points)"), claims[3].numbers)

        var worse = rows
        worse[8] = row("4", "l1", gflops: 1.9, r1: 0.90, mAP: 0.4)
        worse[3] = row("1", "soft_filter", gflops: 1.9, r1: 0.70, mAP: 0.57)
        let contradicted = ScenarioClaims.check(worse, target: "t")
        XCTAssertEqual(contradicted[0].verdict, "contradicted")
        XCTAssertTrue(contradicted[0].numbers.hasPrefix("1 of 2 criteria"), contradicted[0].numbers)
        XCTAssertEqual(contradicted[1].verdict, "contradicted")

        var tied = rows
        tied[6] = row("3", "l1", gflops: 1.9, r1: 0.75, mAP: 0.5)
        XCTAssertEqual(ScenarioClaims.check(tied, target: "t")[2].verdict, "tied")

        let untested = ScenarioClaims.check(rows.filter { $0.method != "soft_filter" && $0.method != "unpruned resnet18" }, target: "t")
        XCTAssertEqual(untested.map(\.verdict), ["supported", "supported", "not tested", "not tested"])
    }

    func testReportCarriesTheStudyTablesAndClaims() {
        let text = ScenarioReport.markdown(rows, synthetic: true)
        XCTAssertTrue(text.contains("## The study's tables on t"), text)
        XCTAssertTrue(text.contains("| soft_filter | not applicable | n/a | n/a | n/a |"), text)
        XCTAssertTrue(text.contains("| pruned (S1 l1) | 1.900 | 1.900 | 79.5% | 58.0% |"), text)
        XCTAssertTrue(text.contains("- **supported**: scenario 1 gives the best and scenario 4 the worst accuracy."), text)
        XCTAssertTrue(text.contains("Scenario 1 (unpruned resnet50: rank-1 80.0%"), text)
        // The fine-tuned target leads (tables, claims), whatever the names' order.
        let two = rows.map { r -> ScenarioRow in
            var r = r
            if r.note == nil { r.rank1["a-cross"] = 0.1; r.mAP["a-cross"] = 0.1 }
            return r
        }
        let led = ScenarioReport.markdown(two, synthetic: true, target: "t")
        XCTAssertTrue(led.contains("## The study's tables on t\n"), led)
        XCTAssertTrue(led.contains("| t rank-1 | t mAP | a-cross rank-1 | a-cross mAP |"), led)
    }
}
