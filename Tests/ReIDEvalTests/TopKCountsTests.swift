// Top-1/top-5 counting by hand: ranks within the top k, ties, fewer than five classes,
// NaN rows, sums over slices equal to one count, and the metrics' fractions and errors.
import ReIDEval
import Tensors
import XCTest

final class TopKCountsTests: XCTestCase {
    func logits(_ rows: [[Float]]) -> Tensor {
        Tensor(shape: [rows.count, rows[0].count], layout: .nc, values: rows.flatMap { $0 })
    }

    func testCountsByHand() {
        let l = logits([
            [0, 1, 2, 3, 4, 5, 6],  // label 6: first
            [6, 5, 4, 3, 2, 1, 0],  // label 4: fifth
            [6, 5, 4, 3, 2, 1, 0],  // label 5: sixth
            [1, 1, 1, 1, 1, 1, 1],  // all tied: counts for the label
            [0, 9, 0, 0, 0, 0, 0],  // label 0 tied with five others behind one higher
        ])
        let c = TopKCounts.count(logits: l, labels: [6, 4, 5, 3, 0])
        XCTAssertEqual(c, TopKCounts(images: 5, top1: 2, top5: 4))
    }

    func testFewerThanFiveClassesAndNaN() {
        let c = TopKCounts.count(logits: logits([[3, 2, 1], [1, 2, 3], [.nan, 0, 1]]), labels: [2, 0, 2])
        XCTAssertEqual(c, TopKCounts(images: 3, top1: 0, top5: 2))
    }

    func testSlicesAddUpToTheWhole() {
        var rows: [[Float]] = [], labels: [Int] = []
        var s: UInt64 = 5
        for i in 0..<23 {
            rows.append((0..<10).map { _ in s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(s >> 40) })
            labels.append(i % 10)
        }
        let whole = TopKCounts.count(logits: logits(rows), labels: labels)
        var sum = TopKCounts()
        for range in [0..<7, 7..<8, 8..<23] {
            sum += TopKCounts.count(logits: logits(Array(rows[range])), labels: Array(labels[range]))
        }
        XCTAssertEqual(sum, whole)
        XCTAssertEqual(TopKCounts(values: whole.values), whole)
        XCTAssertGreaterThan(whole.top5, whole.top1)
    }

    func testMetricsFractionsAndEmptyEvaluation() throws {
        let m = try ClassificationMetrics(counts: TopKCounts(images: 8, top1: 2, top5: 6))
        XCTAssertEqual(m.top1, 0.25)
        XCTAssertEqual(m.top5, 0.75)
        XCTAssertTrue(m.summary("final", synthetic: true).contains("[synthetic data]: top-1 25.0%  top-5 75.0%"))
        XCTAssertEqual(try m.json(synthetic: false), #"{"images":8,"top1":0.25,"top5":0.75}"#)
        XCTAssertThrowsError(try ClassificationMetrics(counts: TopKCounts()))
    }
}
