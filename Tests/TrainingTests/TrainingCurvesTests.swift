// TrainingCurvesTests: curves from hand-written metrics rows — four plots with
// lines, pruning rounds marked, GFLOPs on a second axis, several runs overlaid, a
// missing log named.
import XCTest
import Foundation
@testable import Training

final class TrainingCurvesTests: XCTestCase {
    static func rows() -> [[String: Any]] {
        var rows: [[String: Any]] = []
        for e in 0..<4 {
            for i in 0..<3 {
                rows.append(["event": "train", "epoch": e, "iteration": e * 3 + i, "loss": 5.0 - Double(e) - 0.1 * Double(i),
                             "lr": 0.01, "loader_wait_seconds": 0.02])
            }
            rows.append(["event": "eval", "epoch": e + 1, "rank1": 0.1 * Double(e + 1), "mAP": 0.05 * Double(e + 1)])
        }
        rows.append(["event": "prune", "epoch": 2, "round": 1, "gflops_after": 0.0191])
        return rows
    }

    func testFourCurvesWithPruningMarkers() throws {
        let plots = TrainingCurves.plots([.init(name: "a", rows: Self.rows())], synthetic: true)
        XCTAssertEqual(plots.map(\.0), ["curve_loss.svg", "curve_eval.svg", "curve_lr.svg", "curve_loader_wait.svg"])
        for (name, svg) in plots {
            XCTAssertTrue(svg.contains("class=\"series\""), name)
            XCTAssertTrue(svg.contains("round 1: 0.0191 GFLOPs"), name)
            XCTAssertFalse(svg.contains("no data"), name)
        }
        let two = TrainingCurves.plots([.init(name: "a", rows: Self.rows()), .init(name: "b", rows: Self.rows())], synthetic: false)
        XCTAssertTrue(two[0].1.contains("class=\"legend\"")); XCTAssertTrue(two[0].1.contains("b loss"))
        // GFLOPs after each round on a second axis: one line for one run, one per pruned run overlaid.
        XCTAssertEqual(plots[0].1.components(separatedBy: "class=\"steps\"").count - 1, 1)
        XCTAssertFalse(plots[2].1.contains("class=\"right-axis\""), "the learning rate keeps one axis")
        let unpruned = Self.rows().filter { $0["event"] as? String != "prune" }
        let three = TrainingCurves.plots([.init(name: "a", rows: Self.rows()), .init(name: "b", rows: Self.rows()),
                                          .init(name: "c", rows: unpruned)], synthetic: false)
        XCTAssertEqual(three[1].1.components(separatedBy: "class=\"steps\"").count - 1, 2)
        XCTAssertTrue(three[1].1.contains("b GFLOPs per image")); XCTAssertFalse(three[1].1.contains("c GFLOPs"))
        XCTAssertFalse(TrainingCurves.plots([.init(name: "c", rows: unpruned)], synthetic: false)[0].1.contains("right-axis"))
        // A round's evaluations before and after it sit at its epoch, in the order logged.
        var staged = Self.rows()
        staged.insert(["event": "eval", "epoch": 0, "stage": "before pruning", "rank1": 0.6, "mAP": 0.5], at: 0)
        staged.insert(["event": "prune", "epoch": 0, "round": 1, "gflops_after": 0.02,
                       "after": ["epoch": 0, "rank1": 0.4, "mAP": 0.3] as [String: Any]], at: 1)
        let run = TrainingCurves.Run(name: "s", rows: staged)
        XCTAssertEqual(run.evalSeries("rank1").map(\.x), [0, 0, 1, 2, 3, 4])
        XCTAssertEqual(run.evalSeries("rank1").prefix(3).map(\.y), [0.6, 0.4, 0.1])
        XCTAssertThrowsError(try TrainingCurves.Run(name: "x", directory: "/nonexistent/run")) {
            XCTAssertTrue("\($0)".contains("/nonexistent/run/metrics.jsonl"))
        }
    }
}
