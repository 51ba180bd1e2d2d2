// Ranks: how the command line runs an action on every MPI rank: the communicator of
// this process (a world of one without mpirun), output on the root only, and a failure
// on any rank reported with its rank and turned into the end of the whole job; a
// training run stopped by a signal (Preempted) ends every rank with status 75.
// Also imports Distributed, for the communicator type.
import Distributed
import DistributedMPI
import Foundation
import Training

enum Ranks {
    /// Runs `body` with this process's communicator. An error on a rank of a multi-rank
    /// job is printed with the rank and aborts every rank (the launcher exits non-zero);
    /// on a single rank it is rethrown for the usual error message. `stoppable` actions
    /// (training) catch SIGTERM, SIGUSR1 and SIGINT: they checkpoint and exit with 75.
    static func run(stoppable: Bool = false, _ body: (Communicator) throws -> Void) throws {
        if stoppable { StopSignals.install() }
        let comm = try MPICommunicator.shared()
        do {
            try body(comm)
        } catch let stop as Preempted {
            // Every rank stopped at the same step: each ends normally, with the same status.
            if comm.isRoot { FileHandle.standardError.write(Data("reidprune: \(stop)\n".utf8)) }
            exit(Preempted.exitCode)
        } catch {
            guard comm.size > 1 else { throw error }
            FileHandle.standardError.write(Data("reidprune: rank \(comm.rank) of \(comm.size) failed: \(Console.oneLine("\(error)"))\n".utf8))
            comm.abort(code: 1)
        }
    }

    /// A line on stdout from the root only.
    static func rootLine(_ comm: Communicator) -> (String) -> Void {
        let root = comm.isRoot
        return { if root { Console.line($0) } }
    }
}
