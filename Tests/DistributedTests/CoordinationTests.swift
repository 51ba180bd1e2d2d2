// The coordination vocabulary on 3 thread ranks: a typed broadcast delivers the root's
// Codable value; onRoot runs only on the root and delivers its value, or its error to
// every rank with the same message; onEveryRank delivers the lowest failing rank's error
// to every rank; typed gathers keep rank order.
import Distributed
import Foundation
import XCTest

final class CoordinationTests: XCTestCase {
    struct Decision: Codable, Equatable {
        var name: String
        var kept: [String: [Int]]
        var ratio: Double
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String { "data/x.yaml: key 'train.lr': must be positive" }
    }

    func testTypedBroadcastAndOnRootValue() throws {
        let lock = NSLock()
        nonisolated(unsafe) var seen: [Int: (Decision, Bool, Int, [[Float]]?, [String]?)] = [:]
        nonisolated(unsafe) var calls = 0
        try ThreadWorld(size: 3).run { rank, comm in
            let mine = Decision(name: "rank \(rank)", kept: ["layer1.0": [rank, 7]], ratio: 0.1 * Double(rank + 1))
            let decided = try comm.broadcast(mine)
            let flag = try comm.broadcast(rank == 0)
            let value = try comm.onRoot { () -> Int in
                lock.lock(); calls += 1; lock.unlock()
                return 42
            }
            let floats = try comm.gather(floats: [Float(rank), 0.5])
            let names = try comm.gather("r\(rank)", root: 0)
            lock.lock(); seen[rank] = (decided, flag, value, floats, names); lock.unlock()
        }
        XCTAssertEqual(calls, 1, "onRoot runs its closure on the root only")
        for r in 0..<3 {
            let (d, flag, value, floats, names) = seen[r]!
            XCTAssertEqual(d, Decision(name: "rank 0", kept: ["layer1.0": [0, 7]], ratio: 0.1))
            XCTAssertTrue(flag, "rank \(r) holds the root's flag")
            XCTAssertEqual(value, 42)
            XCTAssertEqual(floats, r == 0 ? [[0, 0.5], [1, 0.5], [2, 0.5]] : nil)
            XCTAssertEqual(names, r == 0 ? ["r0", "r1", "r2"] : nil)
        }
    }

    func testOnRootErrorReachesEveryRankWithTheSameMessage() throws {
        let lock = NSLock()
        nonisolated(unsafe) var messages: [Int: String] = [:]
        nonisolated(unsafe) var rootKeptItsType = false
        try ThreadWorld(size: 3).run { rank, comm in
            do {
                try comm.onRoot { throw Refused() }
                XCTFail("rank \(rank) went on after the root failed")
            } catch {
                lock.lock()
                messages[rank] = "\(error)"
                if rank == 0 { rootKeptItsType = error is Refused }
                lock.unlock()
            }
            // The world is still usable: the failure was delivered, not a broken collective.
            try comm.barrier()
        }
        XCTAssertTrue(rootKeptItsType, "the root rethrows its own error")
        XCTAssertEqual(Set(messages.values), ["data/x.yaml: key 'train.lr': must be positive"])
        XCTAssertEqual(messages.count, 3)
    }

    func testOnEveryRankDeliversTheLowestFailingRanksError() throws {
        let lock = NSLock()
        nonisolated(unsafe) var messages: [Int: String] = [:], agreed: [Int: String] = [:], discarded: [Int] = []
        nonisolated(unsafe) var values: [Int: Int] = [:]
        try ThreadWorld(size: 3).run { rank, comm in
            do {
                _ = try comm.onEveryRank({ () -> Int in
                    if rank > 0 { throw RootError("shards: \(rank) missing") }
                    return rank
                }, discard: { value in lock.lock(); discarded.append(value); lock.unlock() })
                XCTFail("rank \(rank) went on after rank 1 failed")
            } catch {
                lock.lock(); messages[rank] = "\(error)"; agreed[rank] = comm.agreedFailure; lock.unlock()
            }
            // Success everywhere: every rank's own value, and no failure on record.
            let value = try comm.onEveryRank { 10 + rank }
            lock.lock(); values[rank] = value; agreed[rank + 10] = comm.agreedFailure ?? "none"; lock.unlock()
        }
        XCTAssertEqual(messages, [0: "rank 1: shards: 1 missing", 1: "rank 1: shards: 1 missing", 2: "rank 1: shards: 1 missing"])
        XCTAssertEqual(Set(agreed.filter { $0.key < 10 }.values), ["rank 1: shards: 1 missing"], "reported once, by the root")
        XCTAssertEqual(discarded, [0], "the rank that succeeded gives its value back")
        XCTAssertEqual(values, [0: 10, 1: 11, 2: 12])
        XCTAssertEqual(Set(agreed.filter { $0.key >= 10 }.values), ["none"])
        // The same error on every rank needs no rank; an error without a message is a failure too.
        try ThreadWorld(size: 2).run { rank, comm in
            XCTAssertThrowsError(try comm.onEveryRank { throw Refused() }) {
                XCTAssertEqual("\($0)", "data/x.yaml: key 'train.lr': must be positive")
            }
            XCTAssertThrowsError(try comm.onEveryRank { if rank == 1 { throw RootError("") } }) {
                XCTAssertEqual("\($0)", "rank 1: ")
            }
        }
    }

    func testOneRankWorld() throws {
        let comm = LocalCommunicator()
        XCTAssertEqual(try comm.broadcast([1.5, 2.5]), [1.5, 2.5])
        XCTAssertEqual(try comm.onRoot { "done" }, "done")
        XCTAssertThrowsError(try comm.onRoot { throw Refused() }) { XCTAssertTrue($0 is Refused) }
        XCTAssertThrowsError(try comm.onEveryRank { throw Refused() }) { XCTAssertTrue($0 is Refused, "unprefixed, as it was") }
        XCTAssertEqual(try comm.gather(ints: [3, 4]), [[3, 4]])
    }
}
