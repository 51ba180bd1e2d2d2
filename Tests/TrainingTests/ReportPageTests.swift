// ReportPageTests: report.html of a run folder built from a metrics.jsonl written as
// JSON — inline plots, pruning history, recipe, machine, synthetic label, no scripts.
import XCTest
import Foundation
@testable import Training

final class ReportPageTests: XCTestCase {
    func testRunPageFromAFolder() throws {
        let dir = NSTemporaryDirectory() + "reportpage-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rows = TrainingCurvesTests.rows()
        rows.append(["event": "prune", "epoch": 3, "round": 2, "gflops_before": 0.0191, "gflops_after": 0.012,
                     "channels": ["layer1.0.conv1": 12, "layer2.0.conv1": 20],
                     "channels_before": ["layer1.0.conv1": 16, "layer2.0.conv1": 32]])
        let text = try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]),
                                         as: UTF8.self) }.joined(separator: "\n") + "\n"
        try text.write(toFile: dir + "/metrics.jsonl", atomically: true, encoding: .utf8)
        try "model:\n  arch: resnet18\n".write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        let result = RunResult(dataset: "synth", synthetic: true, arch: "resnet18", params: 1_000_000, gflops: 0.012,
                               epochs: 4, rank1: 0.4, rank5: 0.6, rank10: 0.7, rank20: 0.8, mAP: 0.3, mINP: 0.1,
                               numValidQueries: 10, trainSeconds: 12)
        try RunPage.write(result, directory: dir)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        // Four curves and the pruning heat map, all SVG; the loss and evaluation curves carry
        // GFLOPs on a second axis.
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 5)
        XCTAssertEqual(html.components(separatedBy: "class=\"right-axis\"").count - 1, 2)
        XCTAssertTrue(html.contains("round 2: 0.012 GFLOPs"))
        XCTAssertTrue(html.contains("class=\"plot heatmap\"")); XCTAssertTrue(html.contains(">20 / 32</text>"))
        XCTAssertTrue(html.contains("layer2.0.conv1, round 2: 20 / 32 channels kept, 62% of the 32 at the start"))
        XCTAssertFalse(html.contains("<table class=\"history\""))
        XCTAssertTrue(html.contains("arch: resnet18")); XCTAssertTrue(html.contains("cores available"))
        XCTAssertTrue(html.contains("Synthetic data")); XCTAssertTrue(html.contains("<td>40.0%</td>"))
        XCTAssertFalse(html.contains("<script")); XCTAssertFalse(html.contains("no data"))
        if let out = ProcessInfo.processInfo.environment["REIDPRUNE_PLOTS_OUT"] {
            try html.write(toFile: out + "/run-report.html", atomically: true, encoding: .utf8)
        }
    }
}
