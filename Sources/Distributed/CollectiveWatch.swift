// CollectiveWatch: what the collective watchdog needs to know from the training code:
// how long a rank may wait in one collective (`distributed.timeout_s`) and what the
// ranks are doing (a phase such as "training step 12 (epoch 1)"), so that a stall
// becomes an error naming the collective, the phase and the ranks that did not arrive.
// Collectives outside a watched phase (set-up, data generation, root-only timing) wait
// as long as they must. Transports without a watchdog keep the values and ignore them.

public struct CollectiveWatch: Sendable, Equatable {
    /// Seconds a rank may wait in one collective of a watched phase; 0 turns the watchdog off.
    public var timeoutSeconds: Double = 300
    /// What the ranks are doing; nil: not watched.
    public var phase: String?

    public init(timeoutSeconds: Double = 300, phase: String? = nil) {
        self.timeoutSeconds = timeoutSeconds
        self.phase = phase
    }

    /// True when a collective now is subject to the timeout.
    public var active: Bool { phase != nil && timeoutSeconds > 0 }
}

extension Communicator {
    /// Runs `body` with its collectives watched as `phase` (inside another watched phase:
    /// "phase (outer phase)").
    public func watched<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        let saved = watch
        watch.phase = saved.phase.map { "\(phase) (\($0))" } ?? phase
        defer { watch = saved }
        return try body()
    }

    /// Runs `body` with its collectives unwatched: for root-only work inside a watched
    /// phase (timing a model on the root) during which the other ranks wait.
    public func unwatched<T>(_ body: () throws -> T) rethrows -> T {
        let saved = watch
        watch.phase = nil
        defer { watch = saved }
        return try body()
    }
}
