// MPICommunicator: the Open MPI implementation of Communicator. MPI_Init_thread
// (funneled: only the thread that initialized calls MPI), errors returned rather than
// aborting, each turned into a Swift error carrying MPI's message and the rank; rank,
// size and the node-local rank from MPI; a world of one works without mpirun.
// `abort` ends every rank of the job when one fails, so that nothing hangs.
// In a watched phase (`watch`), every collective runs non-blocking under the
// CollectiveWatchdog, which ends a wait longer than `distributed.timeout_s` with an error
// naming the ranks that did not arrive; elsewhere collectives block as MPI's own do.
import CMPI
import Distributed
import Foundation

public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    let world: MPI_Comm
    public var watch = CollectiveWatch()
    public var agreedFailure: String?
    /// Present when the world has more than one rank.
    let watchdog: CollectiveWatchdog?

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
        watchdog = s > 1 ? try CollectiveWatchdog(world: world, rank: Int(r), size: Int(s)) : nil
    }

    static func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 {
            instance?.watchdog?.free()
            MPI_Finalize()
        }
    }

    /// The host (processor name) of `rank`.
    public func host(of rank: Int) -> String { watchdog?.hosts[rank] ?? ProcessInfo.processInfo.hostName }

    /// One collective, counted: blocking outside a watched phase, else started non-blocking
    /// and polled by the watchdog. Buffers must stay valid for the whole call (they do:
    /// callers pass pointers scoped around it).
    func collective(_ what: String, blocking: () -> Int32, start: (UnsafeMutablePointer<MPI_Request?>) -> Int32) throws {
        guard let watchdog else { return try check(blocking(), what) }
        watchdog.sequence += 1
        guard watch.active else { return try check(blocking(), what) }
        var request: MPI_Request?
        try check(start(&request), what)
        try watchdog.wait(&request, what: what, watch: watch, check: check)
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
        let (n, type, mop) = (Int32(count), reidprune_mpi_float(), MPICommunicator.op(op))
        try collective("MPI_Allreduce of \(count) floats",
                       blocking: { MPI_Allreduce(reidprune_mpi_in_place(), buffer, n, type, mop, world) },
                       start: { MPI_Iallreduce(reidprune_mpi_in_place(), buffer, n, type, mop, world, $0) })
        if op == .average { scale(buffer, count) }
    }

    /// The reduction of `allreduceBF16`: BFloat16Sum over MPI_UINT16_T bit patterns,
    /// created on first use (after MPI_Init) and kept until MPI_Finalize.
    nonisolated(unsafe) private static var bf16SumOp: MPI_Op?

    func bf16Sum() throws -> MPI_Op {
        if let op = MPICommunicator.bf16SumOp { return op }
        var op: MPI_Op?
        try check(MPI_Op_create({ values, sums, count, _ in
            guard let values, let sums, let count else { return }
            BFloat16Sum.add(values.assumingMemoryBound(to: UInt16.self), into: sums.assumingMemoryBound(to: UInt16.self),
                            count: Int(count.pointee))
        }, 1, &op), "MPI_Op_create (bfloat16 sum)")
        MPICommunicator.bf16SumOp = op
        return op!
    }

    public func allreduceBF16(_ buffer: UnsafeMutablePointer<UInt16>, count: Int) throws {
        guard size > 1, count > 0 else { return }
        let (n, type, mop) = (Int32(count), reidprune_mpi_uint16(), try bf16Sum())
        try collective("MPI_Allreduce of \(count) bfloat16 values",
                       blocking: { MPI_Allreduce(reidprune_mpi_in_place(), buffer, n, type, mop, world) },
                       start: { MPI_Iallreduce(reidprune_mpi_in_place(), buffer, n, type, mop, world, $0) })
    }

    public func startAllreduceBF16(_ buffer: UnsafeMutablePointer<UInt16>, count: Int) throws -> PendingCollective {
        var request: MPI_Request?
        let what = "MPI_Iallreduce of \(count) bfloat16 values"
        if size > 1 && count > 0 {
            let op = try bf16Sum()
            watchdog?.sequence += 1
            try check(MPI_Iallreduce(reidprune_mpi_in_place(), buffer, Int32(count), reidprune_mpi_uint16(), op, world,
                                     &request), what)
        } else {
            request = reidprune_mpi_request_null()
        }
        return Pending(comm: self, request: request, buffer: nil, count: count, average: false, what: what)
    }

    public func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, op: ReduceOp) throws {
        guard size > 1, count > 0 else { return }
        let (n, type, mop) = (Int32(count), reidprune_mpi_double(), MPICommunicator.op(op))
        try collective("MPI_Allreduce of \(count) doubles",
                       blocking: { MPI_Allreduce(reidprune_mpi_in_place(), buffer, n, type, mop, world) },
                       start: { MPI_Iallreduce(reidprune_mpi_in_place(), buffer, n, type, mop, world, $0) })
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
        /// The floats to scale when averaging (nil for a bfloat16 sum).
        let buffer: UnsafeMutablePointer<Float>?
        let count: Int
        let average: Bool
        /// What the watchdog reports, and the phase the collective was started in.
        let what: String
        let watch: CollectiveWatch
        let sequence: Int
        var done = false

        init(comm: MPICommunicator, request: MPI_Request?, buffer: UnsafeMutablePointer<Float>?, count: Int, average: Bool,
             what: String) {
            self.comm = comm
            self.request = request
            self.buffer = buffer
            self.count = count
            self.average = average
            self.what = what
            watch = comm.watch
            sequence = comm.watchdog?.sequence ?? 0
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
            if let watchdog = comm.watchdog, watch.active {
                // Reported under the collective's own number, though later ones may have started since.
                let latest = watchdog.sequence
                watchdog.sequence = sequence
                defer { watchdog.sequence = latest }
                try watchdog.wait(&request, what: what, watch: watch, check: comm.check)
            } else {
                try comm.check(MPI_Wait(&request, reidprune_mpi_status_ignore()), "MPI_Wait")
            }
            finish()
        }

        private func finish() {
            done = true
            if average, let buffer { comm.scale(buffer, count) }
        }
    }

    public func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws -> PendingCollective {
        var request: MPI_Request?
        if size > 1 && count > 0 {
            watchdog?.sequence += 1
            try check(MPI_Iallreduce(reidprune_mpi_in_place(), buffer, Int32(count), reidprune_mpi_float(),
                                     MPICommunicator.op(op), world, &request), "MPI_Iallreduce of \(count) floats")
        } else {
            request = reidprune_mpi_request_null()
        }
        return Pending(comm: self, request: request, buffer: buffer, count: count, average: op == .average && size > 1,
                       what: "MPI_Iallreduce of \(count) floats")
    }

    public func reduceToRoot(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {
        guard size > 1, count > 0 else { return }
        let (n, type, mop) = (Int32(count), reidprune_mpi_float(), MPICommunicator.op(op))
        if rank == 0 {
            try collective("MPI_Reduce of \(count) floats",
                           blocking: { MPI_Reduce(reidprune_mpi_in_place(), buffer, n, type, mop, 0, world) },
                           start: { MPI_Ireduce(reidprune_mpi_in_place(), buffer, n, type, mop, 0, world, $0) })
            if op == .average { scale(buffer, count) }
        } else {
            try collective("MPI_Reduce of \(count) floats",
                           blocking: { MPI_Reduce(buffer, nil, n, type, mop, 0, world) },
                           start: { MPI_Ireduce(buffer, nil, n, type, mop, 0, world, $0) })
        }
    }

    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
        guard size > 1, count > 0 else { return }
        try bcast(buffer, count: count, type: reidprune_mpi_float(), root: root, what: "MPI_Bcast of \(count) floats")
    }

    func bcast(_ buffer: UnsafeMutableRawPointer, count: Int, type: MPI_Datatype, root: Int, what: String) throws {
        let (n, r) = (Int32(count), Int32(root))
        try collective(what, blocking: { MPI_Bcast(buffer, n, type, r, world) },
                       start: { MPI_Ibcast(buffer, n, type, r, world, $0) })
    }

    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] {
        guard size > 1 else { return bytes }
        var n = Int64(bytes.count)
        try bcast(&n, count: 1, type: reidprune_mpi_int64(), root: root, what: "MPI_Bcast of a length")
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(n))
        if n > 0 {
            try out.withUnsafeMutableBytes {
                try bcast($0.baseAddress!, count: Int(n), type: reidprune_mpi_byte(), root: root, what: "MPI_Bcast of \(n) bytes")
            }
        }
        return out
    }

    /// Every rank's byte count, on every rank (`root` nil) or at the root.
    func counts(_ count: Int, root: Int?) throws -> [Int32] {
        var n = Int32(count)
        var counts = [Int32](repeating: 0, count: size)
        try withUnsafeMutablePointer(to: &n) { mine in
            try counts.withUnsafeMutableBufferPointer { all in
                let (int, p) = (reidprune_mpi_int(), all.baseAddress!)
                if let root {
                    try collective("MPI_Gather of byte counts",
                                   blocking: { MPI_Gather(mine, 1, int, p, 1, int, Int32(root), world) },
                                   start: { MPI_Igather(mine, 1, int, p, 1, int, Int32(root), world, $0) })
                } else {
                    try collective("MPI_Allgather of byte counts",
                                   blocking: { MPI_Allgather(mine, 1, int, p, 1, int, world) },
                                   start: { MPI_Iallgather(mine, 1, int, p, 1, int, world, $0) })
                }
            }
        }
        return counts
    }

    public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        let counts = try counts(bytes.count, root: nil)
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<size { displs[i] = displs[i - 1] + counts[i - 1] }
        var all = [UInt8](repeating: 0, count: max(1, Int(counts.reduce(0, +))))
        var mine = bytes.isEmpty ? [0] : bytes
        let n = Int32(bytes.count), byte = reidprune_mpi_byte()
        try mine.withUnsafeMutableBufferPointer { m in
            try all.withUnsafeMutableBufferPointer { a in
                try counts.withUnsafeBufferPointer { c in
                    try displs.withUnsafeBufferPointer { d in
                        let (mp, ap, cp, dp) = (m.baseAddress!, a.baseAddress!, c.baseAddress!, d.baseAddress!)
                        try collective("MPI_Allgatherv of \(bytes.count) bytes",
                                       blocking: { MPI_Allgatherv(mp, n, byte, ap, cp, dp, byte, world) },
                                       start: { MPI_Iallgatherv(mp, n, byte, ap, cp, dp, byte, world, $0) })
                    }
                }
            }
        }
        return (0..<size).map { Array(all[Int(displs[$0])..<Int(displs[$0] + counts[$0])]) }
    }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        guard size > 1 else { return [bytes] }
        let counts = try counts(bytes.count, root: root)
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<size { displs[i] = displs[i - 1] + counts[i - 1] }
        var all = [UInt8](repeating: 0, count: rank == root ? max(1, Int(counts.reduce(0, +))) : 1)
        var mine = bytes.isEmpty ? [0] : bytes
        let n = Int32(bytes.count), byte = reidprune_mpi_byte(), r = Int32(root)
        try mine.withUnsafeMutableBufferPointer { m in
            try all.withUnsafeMutableBufferPointer { a in
                try counts.withUnsafeBufferPointer { c in
                    try displs.withUnsafeBufferPointer { d in
                        let (mp, ap, cp, dp) = (m.baseAddress!, a.baseAddress!, c.baseAddress!, d.baseAddress!)
                        try collective("MPI_Gatherv of \(bytes.count) bytes",
                                       blocking: { MPI_Gatherv(mp, n, byte, ap, cp, dp, byte, r, world) },
                                       start: { MPI_Igatherv(mp, n, byte, ap, cp, dp, byte, r, world, $0) })
                    }
                }
            }
        }
        guard rank == root else { return nil }
        return (0..<size).map { Array(all[Int(displs[$0])..<Int(displs[$0] + counts[$0])]) }
    }

    public func barrier() throws {
        guard size > 1 else { return }
        try collective("MPI_Barrier", blocking: { MPI_Barrier(world) }, start: { MPI_Ibarrier(world, $0) })
    }
}
