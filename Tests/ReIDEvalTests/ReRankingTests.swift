// k-reciprocal re-ranking against a float64 NumPy port of torchreid's re_ranking
// (Fixtures/rerank_reference.json, written by benchmarks/make_rerank_fixture.py): the
// final (Q, G) distances and the CMC/mAP/mINP they give, Euclidean and cosine, on a
// 12 x 40 problem whose identities are far smaller than k1 (also with an odd k1, and
// with k2 above k1 + 1) and a 3 x 10 one smaller than k1 + 1 as a whole.
import Foundation
import ReIDEval
import Tensors
import XCTest

final class ReRankingTests: XCTestCase {
    struct Fixture: Decodable { let problems: [Problem] }

    struct Problem: Decodable {
        let name: String
        let dim: Int
        let query, gallery: [Double]
        let queryPids, queryCams, galleryPids, galleryCams: [Int]
        let cases: [Case]
    }

    struct Case: Decodable {
        let metric: String
        let k1, k2: Int
        let lambda: Double
        let distances: [Double]
        let cmc: [Double]
        let mAP, mINP: Double
        let numValidQueries: Int
    }

    /// Largest allowed |ours - reference| on a re-ranked distance (values lie in [0, 1]).
    /// Ours runs in float32 and finds neighbors on GEMM distances (|a|^2 + |b|^2 - 2 a.b),
    /// the reference in float64 on exact differences. Float32 rounding of the distances, of
    /// the Gaussian weights and of sums of a few dozen of them stays far inside it (3e-7 at
    /// most on this fixture, a few float32 steps), while one neighbor more or less moves
    /// distances by 1e-2 or more. The generator keeps every deciding gap (neighbor-list
    /// boundaries, positive vs negative distances) above 1e-4, so within this tolerance
    /// the rankings, and so the metrics, are the same.
    static let distanceTolerance: Float = 1e-5
    /// Metrics come from identical rankings: only summation order may differ.
    static let metricTolerance = 1e-12

    func loadFixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/rerank_reference.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func tensor(_ values: [Double], dim: Int) -> Tensor {
        Tensor(shape: [values.count / dim, dim], layout: .nc, values: values.map { Float($0) })
    }

    func testMatchesTheNumPyReference() throws {
        let fixture = try loadFixture()
        XCTAssertEqual(fixture.problems.map(\.name), ["market", "tiny"])
        var checked = 0
        for p in fixture.problems {
            let query = tensor(p.query, dim: p.dim), gallery = tensor(p.gallery, dim: p.dim)
            let (q, g) = (query.shape[0], gallery.shape[0])
            XCTAssertEqual([q, g, p.queryPids.count, p.galleryPids.count],
                           [p.queryCams.count, p.galleryCams.count, q, g], p.name)
            for c in p.cases {
                let label = "\(p.name) \(c.metric) k1 \(c.k1) k2 \(c.k2)"
                let metric = try XCTUnwrap(DistanceMetric(rawValue: c.metric), label)
                var o = ReRankingOptions()
                o.k1 = c.k1
                o.k2 = c.k2
                o.lambda = Float(c.lambda)
                // One block of rows, and blocks of 5 rows that leave a ragged last block.
                for blockRows in [512, 5] {
                    o.blockRows = blockRows
                    let ours = ReRanking.rerank(query: query, gallery: gallery, metric: metric, options: o)
                    XCTAssertEqual([ours.rows, ours.cols], [q, g], label)
                    XCTAssertEqual(ours.values.count, c.distances.count, label)
                    var worst: Float = 0, at = 0
                    for (i, (a, b)) in zip(ours.values, c.distances).enumerated() where abs(a - Float(b)) > worst {
                        (worst, at) = (abs(a - Float(b)), i)
                    }
                    XCTAssertLessThanOrEqual(worst, Self.distanceTolerance,
                                             "\(label) blocks of \(blockRows): distance [\(at / g), \(at % g)] is "
                                             + "\(ours.values[at]), reference \(c.distances[at])")
                    let m = try Metrics.evaluate(ours, queryPids: p.queryPids, galleryPids: p.galleryPids,
                                                 queryCams: p.queryCams, galleryCams: p.galleryCams)
                    XCTAssertEqual(m.numValidQueries, c.numValidQueries, label)
                    XCTAssertEqual(m.cmc.count, c.cmc.count, label)
                    for (k, (a, b)) in zip(m.cmc, c.cmc).enumerated() {
                        XCTAssertEqual(a, b, accuracy: Self.metricTolerance, "\(label): CMC rank \(k + 1)")
                    }
                    XCTAssertEqual(m.mAP, c.mAP, accuracy: Self.metricTolerance, "\(label): mAP")
                    XCTAssertEqual(m.mINP, c.mINP, accuracy: Self.metricTolerance, "\(label): mINP")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 12, "every case of the fixture, with both block sizes")
    }

    func testFixtureProblemsAreNotTrivial() throws {
        // The reference must exercise skipped queries and imperfect rankings, or agreeing
        // on it would say little.
        let market = try XCTUnwrap(loadFixture().problems.first { $0.name == "market" })
        XCTAssertEqual([market.queryPids.count, market.galleryPids.count, market.dim], [12, 40, 16])
        for c in market.cases {
            XCTAssertLessThan(c.numValidQueries, market.queryPids.count)
            XCTAssertLessThan(c.mAP, 0.9)
            XCTAssertGreaterThan(c.mAP, 0.3)
        }
    }
}
