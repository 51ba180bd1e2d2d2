// CollectiveWatchdog: turns a rank that waits too long in a collective into an error that
// names the collective, the phase (training step, evaluation, pruning round) and the ranks
// that did not arrive, in the manner of Horovod's stall inspector. A watched collective
// runs non-blocking and is polled (MPI_Test) with a per-collective sequence number; while
// polling, a rank answers the questions of other ranks on a duplicate communicator (the
// side channel). A rank whose wait exceeds the timeout asks every other rank which
// collective it is in: the ranks that answer with another sequence number, or not at all
// (stopped, hung, or busy outside communication), are the ones that did not arrive.
import CMPI
import Distributed
import Foundation

final class CollectiveWatchdog {
    /// A duplicate of the world communicator: questions and answers never meet the job's own messages.
    private var side: MPI_Comm?
    let rank: Int
    let size: Int
    /// Each rank's processor (host) name, by rank.
    let hosts: [String]
    /// Collectives issued so far; every rank counts the same collectives in the same order.
    var sequence = 0
    /// How long a rank that timed out waits for the others' answers.
    static let answerGrace = 2.0
    static let queryTag: Int32 = 1, answerTag: Int32 = 2

    /// - Important: Collective — every rank creates it, in the same order (it gathers the host names).
    init(world: MPI_Comm, rank: Int, size: Int) throws {
        self.rank = rank
        self.size = size
        var dup: MPI_Comm?
        guard MPI_Comm_dup(world, &dup) == reidprune_mpi_success() else {
            throw CommunicationError("rank \(rank) of \(size): MPI_Comm_dup for the collective watchdog failed")
        }
        MPI_Comm_set_errhandler(dup, reidprune_mpi_errors_return())
        side = dup
        let width = Int(reidprune_mpi_max_processor_name())
        var name = [CChar](repeating: 0, count: width)
        var length: Int32 = 0
        MPI_Get_processor_name(&name, &length)
        var all = [CChar](repeating: 0, count: width * size)
        guard MPI_Allgather(&name, Int32(width), reidprune_mpi_byte(), &all, Int32(width), reidprune_mpi_byte(),
                            dup) == reidprune_mpi_success() else {
            throw CommunicationError("rank \(rank) of \(size): gathering the host names for the collective watchdog failed")
        }
        hosts = (0..<size).map { r in
            let bytes = all[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    func free() {
        if side != nil { MPI_Comm_free(&side) }
    }

    /// "rank 1 on host2".
    func describe(_ r: Int) -> String { "rank \(r) on \(hosts[r])" }

    /// Polls `request` (collective number `sequence`, `what`) until it completes; throws
    /// naming the missing ranks once the wait exceeds `watch.timeoutSeconds`. Answers the
    /// other ranks' questions meanwhile. `check` turns an MPI return code into an error.
    func wait(_ request: inout MPI_Request?, what: String, watch: CollectiveWatch,
              check: (Int32, String) throws -> Void) throws {
        let seq = sequence, phase = watch.phase ?? "unwatched work"
        let start = DispatchTime.now().uptimeNanoseconds
        var polls = 0, pause: UInt32 = 1
        while true {
            var flag: Int32 = 0
            try check(MPI_Test(&request, &flag, reidprune_mpi_status_ignore()), what)
            if flag != 0 { return }
            answerQuestions(seq: seq, what: what, phase: phase)
            let waited = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if waited > watch.timeoutSeconds {
                throw stall(seq: seq, what: what, phase: phase, waited: waited, timeout: watch.timeoutSeconds)
            }
            // Spin briefly for short collectives, then poll at most every 200 us so that
            // ranks sharing cores leave them to the ranks still computing.
            polls += 1
            if polls > 64 {
                usleep(pause)
                pause = min(pause * 2, 200)
            }
        }
    }

    /// Answers every pending question with this rank's state: "sequence \t what \t phase".
    private func answerQuestions(seq: Int, what: String, phase: String) {
        while true {
            var flag: Int32 = 0
            var status = MPI_Status()
            guard MPI_Iprobe(reidprune_mpi_any_source(), Self.queryTag, side, &flag, &status) == reidprune_mpi_success(),
                  flag != 0 else { return }
            let asker = reidprune_mpi_status_source(&status)
            var question: Int64 = 0
            guard MPI_Recv(&question, 1, reidprune_mpi_int64(), asker, Self.queryTag, side,
                           reidprune_mpi_status_ignore()) == reidprune_mpi_success() else { return }
            var answer = Array("\(seq)\t\(what)\t\(phase)".utf8)
            // Small messages go out eagerly: the send does not wait for the asker.
            _ = MPI_Send(&answer, Int32(answer.count), reidprune_mpi_byte(), asker, Self.answerTag, side)
        }
    }

    /// Asks every other rank where it is and returns the error that names the ranks missing
    /// from collective `seq`.
    private func stall(seq: Int, what: String, phase: String, waited: Double, timeout: Double) -> CommunicationError {
        for r in 0..<size where r != rank {
            var question = Int64(seq)
            _ = MPI_Send(&question, 1, reidprune_mpi_int64(), Int32(r), Self.queryTag, side)
        }
        var answers: [Int: (seq: Int, what: String, phase: String)] = [:]
        let deadline = Date().addingTimeInterval(Self.answerGrace)
        while answers.count < size - 1 && Date() < deadline {
            answerQuestions(seq: seq, what: what, phase: phase)
            var flag: Int32 = 0
            var status = MPI_Status()
            guard MPI_Iprobe(reidprune_mpi_any_source(), Self.answerTag, side, &flag, &status) == reidprune_mpi_success()
            else { break }
            if flag == 0 { usleep(1000); continue }
            let source = reidprune_mpi_status_source(&status)
            var count: Int32 = 0
            MPI_Get_count(&status, reidprune_mpi_byte(), &count)
            var bytes = [UInt8](repeating: 0, count: Int(max(count, 1)))
            guard MPI_Recv(&bytes, count, reidprune_mpi_byte(), source, Self.answerTag, side,
                           reidprune_mpi_status_ignore()) == reidprune_mpi_success() else { break }
            let fields = String(decoding: bytes.prefix(Int(count)), as: UTF8.self).split(separator: "\t",
                                                                                          omittingEmptySubsequences: false)
            if fields.count == 3, let s = Int(fields[0]) {
                answers[Int(source)] = (s, String(fields[1]), String(fields[2]))
            }
        }
        let missing = (0..<size).filter { $0 != rank && answers[$0]?.seq != seq }.map { r -> String in
            guard let a = answers[r] else {
                return "\(describe(r)) (no answer: stopped, hung, or busy outside communication)"
            }
            return "\(describe(r)) (waiting in collective #\(a.seq), \(a.what), during \(a.phase))"
        }
        let who = missing.isEmpty ? "every rank arrived, yet the transport did not complete it"
            : "did not arrive: " + missing.joined(separator: "; ")
        return CommunicationError("collective watchdog: \(describe(rank)) waited \(Int(waited.rounded())) s "
                                  + "(distributed.timeout_s: \(Self.number(timeout))) in collective #\(seq), \(what), "
                                  + "during \(phase); \(who)")
    }

    /// 300 -> "300", 2.5 -> "2.5".
    static func number(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
}
