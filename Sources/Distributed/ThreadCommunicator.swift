// ThreadCommunicator: an in-process world whose ranks are threads, for tests. Every
// collective posts each rank's data, meets at a barrier, and combines the data in rank
// order, so that all ranks get bit-identical results as with MPI. A rank that throws
// breaks the barrier for everyone instead of hanging them.
import Foundation

public final class ThreadWorld: @unchecked Sendable {
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var broken: String?
    fileprivate var slots: [Any?]

    public init(size: Int) {
        precondition(size >= 1, "ThreadWorld: size must be positive")
        self.size = size
        slots = Array(repeating: nil, count: size)
    }

    /// One communicator per rank.
    public func communicators() -> [ThreadCommunicator] { (0..<size).map { ThreadCommunicator(world: self, rank: $0) } }

    /// Runs `body(rank, communicator)` on `size` threads and waits for all; rethrows the
    /// first error (after breaking the world so that no rank hangs).
    public func run(_ body: @escaping @Sendable (Int, ThreadCommunicator) throws -> Void) throws {
        let comms = communicators()
        let lock = NSLock()
        nonisolated(unsafe) var errors: [(Int, Error)] = []
        let group = DispatchGroup()
        for r in 0..<size {
            let comm = comms[r]
            group.enter()
            let t = Thread {
                do { try body(r, comm) } catch {
                    lock.lock(); errors.append((r, error)); lock.unlock()
                    self.breakWorld("rank \(r) failed: \(error)")
                }
                group.leave()
            }
            t.stackSize = 8 << 20
            t.start()
        }
        group.wait()
        // The first error is the original failure; the others are ranks woken by it.
        if let (r, e) = errors.first {
            throw CommunicationError("rank \(r) of \(size) failed: \(e)")
        }
    }

    func breakWorld(_ why: String) {
        condition.lock()
        if broken == nil { broken = why }
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every rank arrived; throws when the world is broken.
    fileprivate func barrier() throws {
        condition.lock()
        defer { condition.unlock() }
        if let broken { throw CommunicationError(broken) }
        let gen = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while gen == generation && broken == nil { condition.wait() }
            // A barrier that completed stays completed: the last rank to arrive may already
            // have gone on and failed (breaking the world) before this rank woke up.
            if gen == generation, let broken { throw CommunicationError(broken) }
        }
    }
}

public final class ThreadCommunicator: Communicator, @unchecked Sendable {
    let world: ThreadWorld
    public let rank: Int
    public var size: Int { world.size }
    public var localRank: Int { rank }
    /// Kept for the training code; threads of one process need no watchdog.
    public var watch = CollectiveWatch()
    public var agreedFailure: String?

    init(world: ThreadWorld, rank: Int) {
        self.world = world
        self.rank = rank
    }

    /// Posts this rank's value, waits for all, reads every rank's value, waits again so
    /// that no slot is overwritten before everyone has read it.
    private func exchange<T>(_ value: T) throws -> [T] {
        world.slots[rank] = value
        try world.barrier()
        let all = world.slots.map { $0 as! T }
        try world.barrier()
        return all
    }

    private func reduce<T: BinaryFloatingPoint>(_ buffer: UnsafeMutablePointer<T>, count: Int, op: ReduceOp) throws {
        let copy = Array(UnsafeBufferPointer(start: buffer, count: count))
        let all = try exchange(copy)
        for i in 0..<count {
            var acc = all[0][i]
            for r in 1..<all.count { acc = op == .max ? Swift.max(acc, all[r][i]) : acc + all[r][i] }
            buffer[i] = op == .average ? acc / T(all.count) : acc
        }
    }

    public func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {
        try reduce(buffer, count: count, op: op)
    }

    public func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, op: ReduceOp) throws {
        try reduce(buffer, count: count, op: op)
    }

    final class Done: PendingCollective {
        func test() throws -> Bool { true }
        func wait() throws {}
    }

    public func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws -> PendingCollective {
        try reduce(buffer, count: count, op: op)
        return Done()
    }

    public func allreduceBF16(_ buffer: UnsafeMutablePointer<UInt16>, count: Int) throws {
        let all = try exchange(Array(UnsafeBufferPointer(start: buffer, count: count)))
        for i in 0..<count {
            var acc = all[0][i]
            for r in 1..<all.count { acc = BFloat16Sum.add(all[r][i], acc) }
            buffer[i] = acc
        }
    }

    public func startAllreduceBF16(_ buffer: UnsafeMutablePointer<UInt16>, count: Int) throws -> PendingCollective {
        try allreduceBF16(buffer, count: count)
        return Done()
    }

    public func reduceToRoot(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {
        let copy = Array(UnsafeBufferPointer(start: buffer, count: count))
        try reduce(buffer, count: count, op: op)
        if rank != 0 { buffer.update(from: copy, count: count) }
    }

    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
        let all = try exchange(Array(UnsafeBufferPointer(start: buffer, count: count)))
        buffer.update(from: all[root], count: count)
    }

    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] { try exchange(bytes)[root] }
    public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] { try exchange(bytes) }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        let all = try exchange(bytes)
        return rank == root ? all : nil
    }

    public func barrier() throws { try world.barrier() }
}
