// IdentitySampler: P x K composition, identity-whole rank slices, disjoint coverage with
// 2 and 3 ranks, determinism from the seed, torchreid's epoch length; ShuffleSampler.
import ReIDData
import XCTest

final class SamplerTests: XCTestCase {
    /// 12 identities with 1 to 9 images each.
    let pids: [Int] = (0..<12).flatMap { id in Array(repeating: id * 10, count: 1 + (id * 5) % 9) }

    func testPxKCompositionAndEpochLength() throws {
        let s = try IdentitySampler(pids: pids, identities: 6, instances: 4, seed: 7)
        let batches = s.batches(epoch: 0)
        XCTAssertFalse(batches.isEmpty)
        for b in batches {
            XCTAssertEqual(b.count, 24)
            let ids = b.map { pids[$0] }
            XCTAssertEqual(Set(ids).count, 6)
            for k in stride(from: 0, to: 24, by: 4) { XCTAssertEqual(Set(ids[k..<(k + 4)]).count, 1, "K consecutive images share an identity") }
        }
        // torchreid: each identity contributes floor(max(n, K) / K) chunks; batches stop when < P identities remain.
        let chunks = Dictionary(grouping: pids, by: { $0 }).values.map { max($0.count, 4) / 4 }
        let used = batches.count * 6
        XCTAssertLessThanOrEqual(used, chunks.reduce(0, +))
        XCTAssertEqual(s.batches(epoch: 0), batches, "same seed and epoch, same batches")
        XCTAssertNotEqual(s.batches(epoch: 1), batches)
        XCTAssertNotEqual(try IdentitySampler(pids: pids, identities: 6, instances: 4, seed: 8).batches(epoch: 0), batches)
    }

    func testRankSlicesKeepIdentitiesWholeAndCoverDisjointly() throws {
        for world in [2, 3] {
            let s = try IdentitySampler(pids: pids, identities: 6, instances: 4, seed: 3)
            try s.validate(world: world)
            for b in s.batches(epoch: 2) {
                var seen: [Int] = []
                var idsPerRank: [Set<Int>] = []
                for r in 0..<world {
                    let slice = s.slice(b, rank: r, world: world)
                    XCTAssertEqual(slice.count, 24 / world)
                    seen += slice
                    idsPerRank.append(Set(slice.map { pids[$0] }))
                }
                XCTAssertEqual(seen, b, "slices are disjoint and cover the batch in order")
                for i in 0..<world { for j in (i + 1)..<world { XCTAssertTrue(idsPerRank[i].isDisjoint(with: idsPerRank[j])) } }
            }
        }
        let s = try IdentitySampler(pids: pids, identities: 5, instances: 4, seed: 3)
        XCTAssertThrowsError(try s.validate(world: 2)) { XCTAssertTrue("\($0)".contains("multiple of 2"), "\($0)") }
    }

    func testFewerIdentitiesThanPFails() {
        XCTAssertThrowsError(try IdentitySampler(pids: [1, 1, 2], identities: 4, instances: 2, seed: 1)) {
            XCTAssertTrue("\($0)".contains("2 identities, fewer than P=4"), "\($0)")
        }
    }

    func testShuffleSampler() throws {
        let s = try ShuffleSampler(count: 50, batchSize: 12, seed: 1)
        let b = s.batches(epoch: 0)
        XCTAssertEqual(b.count, 4)
        XCTAssertEqual(Set(b.flatMap { $0 }).count, 48)
        XCTAssertEqual(s.slice(b[0], rank: 1, world: 3), Array(b[0][4..<8]))
    }
}
