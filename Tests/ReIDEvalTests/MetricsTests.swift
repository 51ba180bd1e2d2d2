// CMC, mAP and mINP on cases computed by hand: same-pid same-camera exclusion,
// distractors, a query without positives, ties, a gallery smaller than the max rank,
// and the errors for bad input.
import ReIDEval
import Tensors
import XCTest

final class MetricsTests: XCTestCase {
    func dist(_ rows: [[Float]]) -> DistanceMatrix {
        DistanceMatrix(rows: rows.count, cols: rows[0].count, values: rows.flatMap { $0 })
    }

    func testSameCameraExclusionDistractorsAndSkippedQuery() throws {
        // Gallery: 0: pid 1 cam 0 (same camera as query 0: dropped), 1: pid 0 (distractor), 2: pid 1 cam 1,
        // 3: pid 2 cam 1, 4: pid 1 cam 2.
        // Query 0 (pid 1, cam 0): distances 0.1, 0.2, 0.3, 0.25, 0.5 -> kept order: g1 (0.2, neg), g3 (0.25, neg),
        //   g2 (0.3, pos, rank 3), g4 (0.5, pos, rank 4). AP = (1/3 + 2/4) / 2; INP = 2 / 4.
        // Query 1 (pid 3): no positive -> skipped.
        // Query 2 (pid 2, cam 0): g3 at 0.05 is nearest -> rank 1, AP 1, INP 1.
        let d = dist([[0.1, 0.2, 0.3, 0.25, 0.5], [0.1, 0.1, 0.1, 0.1, 0.1], [0.3, 0.2, 0.4, 0.05, 0.9]])
        let m = try Metrics.evaluate(d, queryPids: [1, 3, 2], galleryPids: [1, 0, 1, 2, 1], queryCams: [0, 0, 0],
                                     galleryCams: [0, 0, 1, 1, 2])
        XCTAssertEqual(m.numValidQueries, 2)
        XCTAssertEqual(m.numQueries, 3)
        XCTAssertEqual(m.maxRank, 5, "max rank clipped to the gallery size")
        XCTAssertEqual(m.cmc, [0.5, 0.5, 1, 1, 1])
        XCTAssertEqual(m.mAP, ((1.0 / 3 + 2.0 / 4) / 2 + 1) / 2, accuracy: 1e-12)
        XCTAssertEqual(m.mINP, (0.5 + 1) / 2, accuracy: 1e-12)
    }

    func testTiesGoToTheLowerGalleryIndex() throws {
        // Both at distance 1: the negative (index 0) ranks before the positive (index 1).
        let m = try Metrics.evaluate(dist([[1, 1]]), queryPids: [5], galleryPids: [6, 5], queryCams: [0],
                                     galleryCams: [1, 1])
        XCTAssertEqual(m.cmc, [0, 1])
        XCTAssertEqual(m.mAP, 0.5, accuracy: 1e-12)
        let n = try Metrics.evaluate(dist([[1, 1]]), queryPids: [5], galleryPids: [5, 6], queryCams: [0],
                                     galleryCams: [1, 1])
        XCTAssertEqual(n.cmc, [1, 1])
        XCTAssertEqual(n.mAP, 1, accuracy: 1e-12)
    }

    func testJunkNeverRanks() throws {
        let m = try Metrics.evaluate(dist([[0.1, 0.5]]), queryPids: [1], galleryPids: [-1, 1], queryCams: [0],
                                     galleryCams: [1, 1])
        XCTAssertEqual(m.cmc[0], 1)
    }

    func testNoValidQueryExplainsSameCameraExclusion() {
        XCTAssertThrowsError(try Metrics.evaluate(dist([[0.1, 0.2]]), queryPids: [1], galleryPids: [1, 2],
                                                  queryCams: [0], galleryCams: [0, 0])) { e in
            XCTAssertTrue("\(e)".contains("no valid query"), "\(e)")
            XCTAssertTrue("\(e)".contains("camids"), "\(e)")
        }
    }

    func testNaNAndShapeErrors() {
        XCTAssertThrowsError(try Metrics.evaluate(dist([[Float.nan, 0.2]]), queryPids: [1], galleryPids: [1, 2],
                                                  queryCams: [0], galleryCams: [1, 1])) {
            XCTAssertTrue("\($0)".contains("NaN"), "\($0)")
        }
        XCTAssertThrowsError(try Metrics.evaluate(dist([[0.1, 0.2]]), queryPids: [1], galleryPids: [1],
                                                  queryCams: [0], galleryCams: [1])) {
            XCTAssertTrue("\($0)".contains("does not fit"), "\($0)")
        }
    }

    func testDistancesEuclideanAndCosine() {
        let q = Tensor(shape: [1, 2], layout: .nc, values: [3, 4])
        let g = Tensor(shape: [2, 2], layout: .nc, values: [0, 0, 6, 8])
        XCTAssertEqual(DistanceMatrix.compute(query: q, gallery: g, metric: .euclidean).values, [25, 25])
        let c = DistanceMatrix.compute(query: q, gallery: g, metric: .cosine).values
        XCTAssertEqual(c[1], 0, accuracy: 1e-6)
    }

    func testCUHK03SingleShotIsDeterministicAndBounded() throws {
        // Query pid 1: gallery has two images of pid 1 (near and far) and one of pid 2 in between.
        let d = dist([[0.1, 0.9, 0.5]])
        let m = try Metrics.evaluateCUHK03(d, queryPids: [1], galleryPids: [1, 1, 2], queryCams: [0],
                                           galleryCams: [1, 1, 1], seed: 3)
        // Rank 1 when the near positive is drawn, rank 2 otherwise: CMC@1 is the share of draws of index 0.
        XCTAssertGreaterThan(m.cmc[0], 0)
        XCTAssertLessThan(m.cmc[0], 1)
        XCTAssertEqual(m.cmc[1], 1)
        XCTAssertEqual(try Metrics.evaluateCUHK03(d, queryPids: [1], galleryPids: [1, 1, 2], queryCams: [0],
                                                  galleryCams: [1, 1, 1], seed: 3), m)
    }
}
