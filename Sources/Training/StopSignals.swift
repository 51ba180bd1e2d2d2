// StopSignals: preemption. SIGTERM, SIGUSR1 (what Slurm's --signal and Open MPI's mpirun
// forward) and a first SIGINT ask the run to stop; the training session then finishes its
// step, agrees with every rank on the same step to stop at, writes the checkpoint and ends
// with `Preempted` (the command exits 75, EX_TEMPFAIL: run it again to resume). A second
// SIGINT ends the process at once.
import Dispatch
import Foundation

public final class StopSignals: @unchecked Sendable {
    /// The process's handlers, once `install()` ran; nil: signals keep their default action.
    nonisolated(unsafe) public private(set) static var current: StopSignals?

    private let lock = NSLock()
    private var received: String?
    private var interrupts = 0
    private var stopCheckpointWritten = false
    private var generatingData = 0
    private var failing = false
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "reidprune.stop-signals")

    private init() {}

    /// The signals that ask for a stop, by name; a name's position + 1 is its code in the
    /// ranks' agreement on whether (and why) to stop (0: none).
    public static let names = ["SIGTERM", "SIGUSR1", "SIGINT"]

    /// Catches SIGTERM, SIGUSR1 and SIGINT for the rest of the process.
    @discardableResult
    public static func install() -> StopSignals {
        if let current { return current }
        let s = StopSignals()
        for (number, name) in zip([SIGTERM, SIGUSR1, SIGINT], names) {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: s.queue)
            // Signals that arrive before the handler runs are counted together in `data`.
            source.setEventHandler { s.receive(name, count: Int(source.data)) }
            source.resume()
            s.sources.append(source)
        }
        current = s
        return s
    }

    /// The process is ending on an error: a stop signal from now on (the launcher ending
    /// the other ranks) is not announced, as no step or checkpoint follows.
    public func endingOnError() {
        lock.lock()
        failing = true
        lock.unlock()
    }

    private func receive(_ name: String, count: Int) {
        lock.lock()
        if failing { lock.unlock(); return }
        if name == "SIGINT" { interrupts += max(count, 1) }
        let again = interrupts > 1
        let written = stopCheckpointWritten
        if received == nil { received = name }
        lock.unlock()
        if again {
            FileHandle.standardError.write(Data((StopSignals.secondInterruptLine(checkpointWritten: written) + "\n").utf8))
            _exit(130)
        }
        lock.lock()
        let generating = generatingData > 0
        lock.unlock()
        let note = generating ? "stopping the data generation now; nothing of it is kept"
            : "finishing the current step, then writing a checkpoint" + (name == "SIGINT" ? " (interrupt again to stop at once)" : "")
        FileHandle.standardError.write(Data(("reidprune: \(name): " + note + "\n").utf8))
    }

    /// Runs `body`, which generates a data set (or waits for the root that does) and ends
    /// at once on a stop request, so that a stop signal's note says so rather than
    /// promising a checkpoint. Calls may nest.
    public static func generatingData<T>(_ body: () throws -> T) rethrows -> T {
        guard let s = current else { return try body() }
        s.lock.lock()
        s.generatingData += 1
        s.lock.unlock()
        defer {
            s.lock.lock()
            s.generatingData -= 1
            s.lock.unlock()
        }
        return try body()
    }

    /// What a second SIGINT prints as it ends the process: whether the stop's checkpoint
    /// was already complete (checkpoints are written whole or not at all, so an earlier
    /// one is never damaged).
    static func secondInterruptLine(checkpointWritten: Bool) -> String {
        checkpointWritten
            ? "reidprune: interrupted twice: stopping now; this stop's checkpoint was already written, run the same command again to resume"
            : "reidprune: interrupted twice: stopping now, without a checkpoint for this stop (an earlier checkpoint, if any, is kept as it was)"
    }

    /// Called once the checkpoint asked for by the stop signal is complete on this rank.
    public func noteStopCheckpointWritten() {
        lock.lock()
        stopCheckpointWritten = true
        lock.unlock()
    }

    /// The first stop signal received, if any.
    public var requested: String? {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Forgets a received signal (tests that run several sessions in one process).
    public func reset() {
        lock.lock()
        received = nil
        interrupts = 0
        stopCheckpointWritten = false
        lock.unlock()
    }
}

/// The run stopped on a signal after writing its checkpoint; running the same command
/// again resumes it exactly.
public struct Preempted: Error, CustomStringConvertible {
    public let signal: String
    public let description: String
    public init(signal: String, message: String) {
        self.signal = signal
        description = message
    }
    /// The exit status of a preempted run (EX_TEMPFAIL: try again).
    public static let exitCode: Int32 = 75
}
