// QueryRankerTests: the counting ranks (one pass per positive, or one binary-search pass
// for many positives) against a plain full sort of each row's kept items on random
// problems with deliberate ties, junk, distractors and same-camera positives; and the
// blocked evaluation from features against the distance matrix path.
import ReIDEval
import Tensors
import XCTest

final class QueryRankerTests: XCTestCase {
    struct Problem {
        var dist: DistanceMatrix
        var qPids: [Int], gPids: [Int], qCams: [Int], gCams: [Int]
    }

    /// Q x G distances drawn from `levels` values (many exact ties); gallery pids from 1...ids
    /// with junk (-1) and distractors (0); pid 1 has `crowd` extra gallery items so that
    /// its queries have more positives than one pass per positive handles.
    func problem(seed: UInt64, q: Int, g: Int, ids: Int, levels: Int, crowd: Int) -> Problem {
        var rng = SeededRandom(seed: seed)
        var gPids = (0..<g).map { _ in rng.int(ids + 2) - 1 }
        for j in 0..<min(crowd, g) { gPids[j * (g / max(crowd, 1))] = 1 }
        let gCams = (0..<g).map { _ in rng.int(3) }
        let qPids = (0..<q).map { i in i % 5 == 0 ? 1 : 1 + rng.int(ids + 1) }
        let qCams = (0..<q).map { _ in rng.int(3) }
        let values = (0..<(q * g)).map { _ in Float(rng.int(levels)) * 0.25 }
        return Problem(dist: DistanceMatrix(rows: q, cols: g, values: values), qPids: qPids, gPids: gPids, qCams: qCams,
                       gCams: gCams)
    }

    /// The protocol by sorting: per query, the kept items in (distance, index) order, the
    /// 1-based rank of every positive, then CMC, mAP and mINP over the valid queries.
    struct Expected {
        var cmc: [Double], mAP: Double, mINP: Double, numValidQueries: Int, numQueries: Int, maxRank: Int
    }

    func reference(_ p: Problem, maxRank: Int = 50) -> (perQuery: [(firstRank: Int, ap: Double)?], metrics: Expected?) {
        let (q, g) = (p.dist.rows, p.dist.cols)
        var per: [(firstRank: Int, ap: Double, inp: Double)?] = []
        for i in 0..<q {
            let row = Array(p.dist.values[(i * g)..<((i + 1) * g)])
            let kept = (0..<g).filter { p.gPids[$0] != -1 && !(p.gPids[$0] == p.qPids[i] && p.gCams[$0] == p.qCams[i]) }
            let order = kept.sorted { row[$0] < row[$1] || (row[$0] == row[$1] && $0 < $1) }
            let ranks = order.enumerated().filter { p.gPids[$0.element] == p.qPids[i] }.map { $0.offset + 1 }
            guard let first = ranks.first else { per.append(nil); continue }
            let ap = ranks.enumerated().map { Double($0.offset + 1) / Double($0.element) }.reduce(0, +) / Double(ranks.count)
            per.append((first, ap, Double(ranks.count) / Double(ranks.last!)))
        }
        let valid = per.compactMap { $0 }
        guard !valid.isEmpty else { return (per.map { $0.map { ($0.firstRank, $0.ap) } }, nil) }
        let limit = min(maxRank, g), n = Double(valid.count)
        let cmc = (1...limit).map { k in Double(valid.filter { $0.firstRank <= k }.count) / n }
        let m = Expected(cmc: cmc, mAP: valid.map(\.ap).reduce(0, +) / n, mINP: valid.map(\.inp).reduce(0, +) / n,
                            numValidQueries: valid.count, numQueries: q, maxRank: limit)
        return (per.map { $0.map { ($0.firstRank, $0.ap) } }, m)
    }

    func assertClose(_ a: ReIDMetrics, _ b: Expected, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.numValidQueries, b.numValidQueries, what, file: file, line: line)
        XCTAssertEqual(a.numQueries, b.numQueries, what, file: file, line: line)
        XCTAssertEqual(a.maxRank, b.maxRank, what, file: file, line: line)
        XCTAssertEqual(a.cmc, b.cmc, what, file: file, line: line)
        XCTAssertEqual(a.mAP, b.mAP, accuracy: 1e-12, what, file: file, line: line)
        XCTAssertEqual(a.mINP, b.mINP, accuracy: 1e-12, what, file: file, line: line)
    }

    func testCountingRanksEqualAFullSortWithTiesAndJunk() throws {
        var manyPositives = 0
        for seed in UInt64(1)...6 {
            let p = problem(seed: seed, q: 60, g: 400, ids: 12, levels: seed % 2 == 0 ? 6 : 40, crowd: 80)
            let ref = reference(p)
            let got = Metrics.perQuery(p.dist, queryPids: p.qPids, galleryPids: p.gPids, queryCams: p.qCams,
                                       galleryCams: p.gCams)
            for i in 0..<p.dist.rows {
                XCTAssertEqual(got[i]?.firstRank, ref.perQuery[i]?.firstRank, "seed \(seed) query \(i)")
                XCTAssertEqual(got[i]?.ap ?? -1, ref.perQuery[i]?.ap ?? -1, accuracy: 1e-12, "seed \(seed) query \(i)")
                let positives = (0..<p.dist.cols).filter { p.gPids[$0] == p.qPids[i] && p.gCams[$0] != p.qCams[i] }.count
                if positives > 32 { manyPositives += 1 }
            }
            let m = try Metrics.evaluate(p.dist, queryPids: p.qPids, galleryPids: p.gPids, queryCams: p.qCams,
                                         galleryCams: p.gCams)
            assertClose(m, ref.metrics!, "seed \(seed)")
        }
        XCTAssertGreaterThan(manyPositives, 10, "some queries take the many-positives pass")
    }

    func testBlockedEvaluationFromFeaturesEqualsTheDistanceMatrixPath() throws {
        // Small integer features: every product is exact, so both paths see the same distances;
        // duplicated gallery rows make exact ties. 301 queries make two blocks of 151 rows, the last padded.
        var rng = SeededRandom(seed: 9)
        let (q, g, d) = (301, 220, 8)
        let gv = (0..<(g * d)).map { _ in Float(rng.int(5) - 2) }
        var gRows = gv
        for j in stride(from: 1, to: g, by: 7) { for k in 0..<d { gRows[j * d + k] = gv[(j - 1) * d + k] } }
        let qv = (0..<(q * d)).map { _ in Float(rng.int(5) - 2) }
        let query = Tensor(shape: [q, d], layout: .nc, values: qv), gallery = Tensor(shape: [g, d], layout: .nc, values: gRows)
        let gPids = (0..<g).map { _ in rng.int(8) - 1 }, gCams = (0..<g).map { _ in rng.int(3) }
        let qPids = (0..<q).map { _ in 1 + rng.int(6) }, qCams = (0..<q).map { _ in rng.int(3) }
        for metric in DistanceMetric.allCases {
            let dist = DistanceMatrix.compute(query: query, gallery: gallery, metric: metric)
            let viaMatrix = try Metrics.evaluate(dist, queryPids: qPids, galleryPids: gPids, queryCams: qCams,
                                                 galleryCams: gCams, maxRank: 20)
            let timings = Evaluation.Timings()
            let direct = try Metrics.evaluate(query: query, gallery: gallery, metric: metric, queryPids: qPids,
                                              galleryPids: gPids, queryCams: qCams, galleryCams: gCams, maxRank: 20,
                                              timings: timings)
            XCTAssertEqual(direct, viaMatrix, "\(metric)")
            XCTAssertGreaterThan(timings.distances + timings.ranking, 0)
            let ref = reference(Problem(dist: dist, qPids: qPids, gPids: gPids, qCams: qCams, gCams: gCams), maxRank: 20)
            assertClose(direct, ref.metrics!, "\(metric)")
        }
    }

    func testBlockedEvaluationRefusesInfiniteDistances() {
        let query = Tensor(shape: [2, 2], layout: .nc, values: [1, 0, 1e30, 0])
        let gallery = Tensor(shape: [2, 2], layout: .nc, values: [0, 1, 1, 1])
        XCTAssertThrowsError(try Metrics.evaluate(query: query, gallery: gallery, metric: .euclidean, queryPids: [1, 2],
                                                  galleryPids: [1, 2], queryCams: [0, 0], galleryCams: [1, 1])) {
            XCTAssertTrue("\($0)".contains("distance [1, 0] is"), "\($0)")
            XCTAssertTrue("\($0)".contains("NaN or infinite"), "\($0)")
        }
        XCTAssertThrowsError(try Metrics.evaluate(query: query, gallery: gallery, metric: .euclidean, queryPids: [1],
                                                  galleryPids: [1, 2], queryCams: [0], galleryCams: [1, 1])) {
            XCTAssertTrue("\($0)".contains("do not fit"), "\($0)")
        }
        let flat = Tensor(shape: [1, 0], layout: .nc)
        XCTAssertThrowsError(try Metrics.evaluate(query: flat, gallery: flat, metric: .euclidean, queryPids: [1],
                                                  galleryPids: [1], queryCams: [0], galleryCams: [1])) {
            XCTAssertTrue("\($0)".contains("no dimensions"), "\($0)")
        }
    }
}
