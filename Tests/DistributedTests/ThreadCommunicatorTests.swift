// The in-process multi-rank fake: every collective against hand-computed results, and a
// failing rank breaking the world instead of hanging it.
import Distributed
import Foundation
import XCTest

final class ThreadCommunicatorTests: XCTestCase {
    func testCollectives() throws {
        let world = ThreadWorld(size: 3)
        let lock = NSLock()
        nonisolated(unsafe) var results: [Int: [String: [Double]]] = [:]
        try world.run { rank, comm in
            var out: [String: [Double]] = [:]
            var a: [Float] = [Float(rank), 1, Float(rank * rank)]
            try a.withUnsafeMutableBufferPointer { try comm.allreduce($0.baseAddress!, count: 3, op: .sum) }
            out["sum"] = a.map(Double.init)
            var b: [Double] = [Double(rank)]
            try b.withUnsafeMutableBufferPointer { try comm.allreduce($0.baseAddress!, count: 1, op: .average) }
            out["avg"] = b
            var c: [Float] = [Float(10 - rank)]
            try c.withUnsafeMutableBufferPointer { try comm.allreduce($0.baseAddress!, count: 1, op: .max) }
            out["max"] = c.map(Double.init)
            var d: [Float] = [Float(rank + 1)]
            try d.withUnsafeMutableBufferPointer { try comm.reduceToRoot($0.baseAddress!, count: 1, op: .sum) }
            out["reduce"] = d.map(Double.init)
            var e: [Float] = [Float(rank), Float(rank)]
            try e.withUnsafeMutableBufferPointer { try comm.broadcast($0.baseAddress!, count: 2, root: 2) }
            out["bcast"] = e.map(Double.init)
            out["bytes"] = try comm.broadcast(Array(repeating: UInt8(rank), count: rank + 1), root: 1).map(Double.init)
            out["allgather"] = try comm.allgather(ints: Array(repeating: rank, count: rank)).flatMap { $0 }.map(Double.init)
            out["gather"] = try comm.gather([UInt8(rank)], root: 0)?.flatMap { $0 }.map(Double.init) ?? []
            try comm.barrier()
            lock.lock(); results[rank] = out; lock.unlock()
        }
        for r in 0..<3 {
            let o = results[r]!
            XCTAssertEqual(o["sum"], [3, 3, 5])
            XCTAssertEqual(o["avg"], [1])
            XCTAssertEqual(o["max"], [10])
            XCTAssertEqual(o["reduce"], r == 0 ? [6] : [Double(r + 1)], "only the root holds the reduction")
            XCTAssertEqual(o["bcast"], [2, 2])
            XCTAssertEqual(o["bytes"], [1, 1])
            XCTAssertEqual(o["allgather"], [1, 2, 2])
            XCTAssertEqual(o["gather"], r == 0 ? [0, 1, 2] : [])
        }
    }

    func testFailingRankBreaksTheWorldWithoutHanging() {
        let world = ThreadWorld(size: 3)
        let start = Date()
        XCTAssertThrowsError(try world.run { rank, comm in
            if rank == 2 { throw CommunicationError("disk full") }
            try comm.barrier()
        }) { error in
            XCTAssertTrue("\(error)".contains("rank 2 of 3 failed"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testACompletedBarrierStaysCompletedWhenTheLastRankFailsRightAfter() throws {
        // Rank 1 waits in the barrier; rank 0 arrives last, returns and fails at once. Rank 1
        // must return normally: its barrier completed before the world broke.
        for _ in 0..<300 {
            let lock = NSLock()
            nonisolated(unsafe) var waiterError: String?
            let world = ThreadWorld(size: 2)
            XCTAssertThrowsError(try world.run { rank, comm in
                if rank == 0 { usleep(200) }
                do { try comm.barrier() } catch {
                    lock.lock(); waiterError = "rank \(rank): \(error)"; lock.unlock()
                    throw error
                }
                if rank == 0 { throw CommunicationError("diverged") }
            }) { error in XCTAssertTrue("\(error)".contains("rank 0 of 2 failed: diverged"), "\(error)") }
            XCTAssertNil(waiterError)
            if waiterError != nil { break }
        }
    }
}
