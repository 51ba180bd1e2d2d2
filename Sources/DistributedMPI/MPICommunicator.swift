// MPICommunicator: the Open MPI implementation of Communicator. MPI_Init_thread
// (funneled: only the thread that initialized calls MPI), errors returned rather than
// aborting, each turned into a Swift error carrying MPI's message and the rank; rank,
// size and the node-local rank from MPI; a world of one works without mpirun.
// `abort` ends every rank of the job when one fails, so that nothing hangs.
import CMPI
import Distributed
import Foundation

public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    let world: MPI_Comm

    nonisolated(unsafe) private static var instance: MPICommunicator?

    /// The process's communicator, initializing MPI on first use.
    public static func shared() throws -> MPICommunicator {
        if let instance { return instance }
        let c = try MPICommunicator()
        instance = c
        atexit { MPICommunicator.finalize() }
        return c
    }

    private init() throws {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            let rc = MPI_Init_thread(nil, nil, reidprune_mpi_thread_funneled(), &provided)
            guard rc == reidprune_mpi_success() else { throw CommunicationError("MPI_Init_thread failed with code \(rc)") }
        }
        world = reidprune_mpi_comm_world()
        MPI_Comm_set_errhandler(world, reidprune_mpi_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &s)
        rank = Int(r)
        size = Int(s)
        var node: MPI_Comm?
        MPI_Comm_split_type(world, reidprune_mpi_comm_type_shared(), r, reidprune_mpi_info_null(), &node)
        var lr: Int32 = 0
        if node != nil {
            MPI_Comm_rank(node, &lr)
            MPI_Comm_free(&node)
        }
        localRank = Int(lr)
    }

    static func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    /// Ends every rank of the job (the launcher reports which rank aborted).
    public func abort(code: Int32 = 1) -> Never {
        MPI_Abort(world, code)
        exit(code)
    }

    func check(_ rc: Int32, _ what: String) throws {
        guard rc != reidprune_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(reidprune_mpi_max_error_string()))
        var length: Int32 = 0
        MPI_Error_string(rc, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw CommunicationError("rank \(rank) of \(size): \(what) failed: \(message)")
    }

    static func op(_ op: ReduceOp) -> MPI_Op { op == .max ? reidprune_mpi_max() : reidprune_mpi_sum() }

    public func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {
        guard size > 1, count > 0 else { return }
        try check(MPI_Allreduce(reidprune_mpi_in_place(), buffer, Int32(count), reidprune_mpi_float(),
                                MPICommunicator.op(op), world), "MPI_Allreduce of \(count) floats")
        if op == .average { scale(buffer, count) }
    }

    public func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, op: ReduceOp) throws {
        guard size > 1, count > 0 else { return }
        try check(MPI_Allreduce(reidprune_mpi_in_place(), buffer, Int32(count), reidprune_mpi_double(),
                                MPICommunicator.op(op), world), "MPI_Allreduce of \(count) doubles")
        if op == .average {
            let s = 1 / Double(size)
            for i in 0..<count { buffer[i] *= s }
        }
    }

    func scale(_ buffer: UnsafeMutablePointer<Float>, _ count: Int) {
        let s = 1 / Float(size)
        for i in 0..<count { buffer[i] *= s }
    }

    final class Pending: PendingCollective {
        let comm: MPICommunicator
        var request: MPI_Request?
        let buffer: UnsafeMutablePointer<Float>
        let count: Int
        let average: Bool
        var done = false

        init(comm: MPICommunicator, request: MPI_Request?, buffer: UnsafeMutablePointer<Float>, count: Int, average: Bool) {
            self.comm = comm
            self.request = request
            self.buffer = buffer
            self.count = count
            self.average = average
        }

        func test() throws -> Bool {
            if done { return true }
            var flag: Int32 = 0
            try comm.check(MPI_Test(&request, &flag, reidprune_mpi_status_ignore()), "MPI_Test")
            if flag != 0 { finish() }
            return done
        }

        func wait() throws {
            if done { return }
            try comm.check(MPI_Wait(&request, reidprune_mpi_status_ignore()), "MPI_Wait")
            finish()
        }

        private func finish() {
            done = true
            if average { comm.scale(buffer, count) }
        }
    }

    public func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws -> PendingCollective {
        var request: MPI_Request?
        if size > 1 && count > 0 {
            try check(MPI_Iallreduce(reidprune_mpi_in_place(), buffer, Int32(count), reidprune_mpi_float(),
                                     MPICommunicator.op(op), world, &request), "MPI_Iallreduce of \(count) floats")
        } else {
            request = reidprune_mpi_request_null()
        }
        return Pending(comm: self, request: request, buffer: buffer, count: count, average: op == .average && size > 1)
    }

    public func reduceToRoot(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {
        guard size > 1, count > 0 else { return }
        if rank == 0 {
            try check(MPI_Reduce(reidprune_mpi_in_place(), buffer, Int32(count), reidprune_mpi_float(),
                                 MPICommunicator.op(op), 0, world), "MPI_Reduce")
            if op == .average { scale(buffer, count) }
        } else {
            try check(MPI_Reduce(buffer, nil, Int32(count), reidprune_mpi_float(), MPICommunicator.op(op), 0, world),
                      "MPI_Reduce")
        }
    }

    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
        guard size > 1, count > 0 else { return }
        try check(MPI_Bcast(buffer, Int32(count), reidprune_mpi_float(), Int32(root), world), "MPI_Bcast")
    }

    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] {
        guard size > 1 else { return bytes }
        var n = Int64(bytes.count)
        try check(MPI_Bcast(&n, 1, reidprune_mpi_int64(), Int32(root), world), "MPI_Bcast of a length")
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(n))
        if n > 0 { try check(MPI_Bcast(&out, Int32(n), reidprune_mpi_byte(), Int32(root), world), "MPI_Bcast of bytes") }
        return out
    }

    public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        var n = Int32(bytes.count)
        var counts = [Int32](repeating: 0, count: size)
        try check(MPI_Allgather(&n, 1, reidprune_mpi_int(), &counts, 1, reidprune_mpi_int(), world), "MPI_Allgather")
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<size { displs[i] = displs[i - 1] + counts[i - 1] }
        var all = [UInt8](repeating: 0, count: Int(counts.reduce(0, +)))
        var mine = bytes
        try check(MPI_Allgatherv(&mine, n, reidprune_mpi_byte(), &all, counts, displs, reidprune_mpi_byte(), world),
                  "MPI_Allgatherv")
        return (0..<size).map { Array(all[Int(displs[$0])..<Int(displs[$0] + counts[$0])]) }
    }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        guard size > 1 else { return [bytes] }
        var n = Int32(bytes.count)
        var counts = [Int32](repeating: 0, count: size)
        try check(MPI_Gather(&n, 1, reidprune_mpi_int(), &counts, 1, reidprune_mpi_int(), Int32(root), world), "MPI_Gather")
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<size { displs[i] = displs[i - 1] + counts[i - 1] }
        var all = [UInt8](repeating: 0, count: rank == root ? Int(counts.reduce(0, +)) : 1)
        var mine = bytes
        try check(MPI_Gatherv(&mine, n, reidprune_mpi_byte(), &all, counts, displs, reidprune_mpi_byte(), Int32(root),
                              world), "MPI_Gatherv")
        guard rank == root else { return nil }
        return (0..<size).map { Array(all[Int(displs[$0])..<Int(displs[$0] + counts[$0])]) }
    }

    public func barrier() throws {
        guard size > 1 else { return }
        try check(MPI_Barrier(world), "MPI_Barrier")
    }
}
