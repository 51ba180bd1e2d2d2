// RankListTests: a query's rank list on a hand-made problem equals what the evaluation
// ranks — junk and same-pid same-camera items left out, distractors kept, ties to the
// lower index — and its AP and first rank are the values the metrics average.
import ReIDEval
import Tensors
import XCTest

final class RankListTests: XCTestCase {
    /// Features on a line: distance is |a - b|. Gallery 0: junk (pid -1) nearest of all;
    /// 1: pid 1 cam 0, the query's own camera (left out); 2: distractor pid 0; 3: pid 2;
    /// 4: pid 1 cam 1 (a positive); 5: pid 2 at the same distance as 4 (tie: 4 first);
    /// 6: pid 1 cam 2 (a positive, far).
    static let gallery: [Float] = [0.0, 0.01, 0.2, 0.3, 0.5, 0.5, 0.9]
    static let gPids = [-1, 1, 0, 2, 1, 2, 1], gCams = [0, 0, 1, 1, 1, 2, 2]
    static let query: [Float] = [0.0, 0.31]
    static let qPids = [1, 7], qCams = [0, 0]

    /// |q - g| for every pair: (Q, G).
    func distances(_ q: [Float], _ g: [Float]) -> DistanceMatrix {
        DistanceMatrix(rows: q.count, cols: g.count, values: q.flatMap { a in g.map { abs(a - $0) } })
    }

    func testRankListFollowsTheEvaluation() throws {
        let d = distances(Self.query, Self.gallery)
        let r = Metrics.rankList(d, query: 0, queryPids: Self.qPids, galleryPids: Self.gPids, queryCams: Self.qCams,
                                 galleryCams: Self.gCams, topk: 10)
        XCTAssertEqual(r.matches.map(\.gallery), [2, 3, 4, 5, 6], "junk (0) and the same-camera item (1) are left out")
        XCTAssertEqual(r.matches.map(\.positive), [false, false, true, false, true])
        XCTAssertEqual(r.matches.map(\.distance), [0.2, 0.3, 0.5, 0.5, 0.9].map { Float($0) })
        XCTAssertEqual(r.firstRank, 3)
        XCTAssertEqual(r.ap!, (1.0 / 3 + 2.0 / 5) / 2, accuracy: 1e-12)
        XCTAssertFalse(r.rank1)
        // The same numbers as the evaluation of this query alone.
        let one = distances([Self.query[0]], Self.gallery)
        let m = try Metrics.evaluate(one, queryPids: [1], galleryPids: Self.gPids, queryCams: [0], galleryCams: Self.gCams)
        XCTAssertEqual(m.mAP, r.ap!, accuracy: 1e-12)
        XCTAssertEqual(m.cmc.firstIndex { $0 > 0 }! + 1, r.firstRank)
        // top-k cuts the list; the AP still covers every positive.
        let top2 = Metrics.rankList(d, query: 0, queryPids: Self.qPids, galleryPids: Self.gPids, queryCams: Self.qCams,
                                    galleryCams: Self.gCams, topk: 2)
        XCTAssertEqual(top2.matches.map(\.gallery), [2, 3]); XCTAssertEqual(top2.ap, r.ap)
        // A query with no positive: listed, but without AP (the evaluation skips it).
        let lone = Metrics.rankList(d, query: 1, queryPids: Self.qPids, galleryPids: Self.gPids, queryCams: Self.qCams,
                                    galleryCams: Self.gCams, topk: 3)
        XCTAssertEqual(lone.matches.map(\.gallery), [3, 2, 4], "the tie at 0.19 goes to the lower index"); XCTAssertNil(lone.ap); XCTAssertNil(lone.firstRank)
        let all = Metrics.perQuery(d, queryPids: Self.qPids, galleryPids: Self.gPids, queryCams: Self.qCams,
                                   galleryCams: Self.gCams)
        XCTAssertEqual(all[0]?.firstRank, 3); XCTAssertNil(all[1])
    }

    func testKeptRule() {
        XCTAssertFalse(Metrics.isKept(0, pid: 1, cam: 0, [-1], [3]), "junk never ranks")
        XCTAssertFalse(Metrics.isKept(0, pid: 1, cam: 0, [1], [0]), "same identity, same camera")
        XCTAssertTrue(Metrics.isKept(0, pid: 1, cam: 0, [1], [1]))
        XCTAssertTrue(Metrics.isKept(0, pid: 1, cam: 0, [2], [0]), "another identity on the same camera stays")
        XCTAssertTrue(Metrics.isKept(0, pid: 1, cam: 0, [0], [0]), "distractors stay")
    }
}
