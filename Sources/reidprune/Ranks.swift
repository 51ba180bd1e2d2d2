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
    /// Runs `body` with this process's communicator. An error that every rank of a
    /// multi-rank job reached together (the root's, learned through `onRoot` or
    /// `onEveryRank`, or one every rank raises alike, `SameOnEveryRank`) is printed
    /// once, by the root, as a single process prints it, and every rank exits with 1;
    /// any other error is printed with its rank and aborts every rank (the launcher exits
    /// non-zero). On a single rank it is rethrown for the usual error message. `stoppable`
    /// actions (training) catch SIGTERM, SIGUSR1 and SIGINT: they checkpoint and exit with 75.
    /// `aloneWithoutMPI`: a command that starts no MPI outside a launcher (export, extract
    /// and visrank, which deployment machines run by themselves) takes a world of one there.
    static func run(stoppable: Bool = false, aloneWithoutMPI: Bool = false, _ body: (Communicator) throws -> Void) throws {
        if aloneWithoutMPI && ReIDPrune.launcherRank == nil && !stoppable { return try body(LocalCommunicator()) }
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
            StopSignals.current?.endingOnError()
            let text = Console.oneLine("\(error)")
            if error is SameOnEveryRank || comm.agreedFailure == "\(error)" {
                if comm.isRoot { FileHandle.standardError.write(Data("Error: \(text)\n".utf8)) }
                // The others wait until the root has printed, so that the launcher, which
                // ends the job at the first non-zero exit, does not cut the line off.
                try? comm.barrier()
                exit(1)
            }
            FileHandle.standardError.write(Data("reidprune: rank \(comm.rank) of \(comm.size) failed: \(text)\n".utf8))
            comm.abort(code: 1)
        }
    }

    /// A line on stdout from the root only.
    static func rootLine(_ comm: Communicator) -> (String) -> Void {
        let root = comm.isRoot
        return { if root { Console.line($0) } }
    }
}
