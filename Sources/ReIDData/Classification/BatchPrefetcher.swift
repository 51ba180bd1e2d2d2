// BatchPrefetcher: worker threads that build the batches of an epoch a few ahead of the
// consumer. Planning a batch (choosing its images, reading their bytes from a stream) runs
// in batch order under the prefetcher's lock; building it (decode, augment) runs in
// parallel outside. A batch's content depends on its index only, never on thread timing.
import Foundation

final class BatchPrefetcher: @unchecked Sendable {
    /// Plans batch `index` of the current epoch (called in index order, under the lock) and
    /// returns the work that builds it.
    typealias Plan = (_ index: Int) throws -> () throws -> Batch

    private let condition = NSCondition()
    private let prefetch: Int
    private var plan: Plan?
    private var count = 0
    private var ready: [Int: Result<Batch, Error>] = [:]
    private var nextToPlan = 0
    private var nextToConsume = 0
    private var generation = 0
    private var stopped = false

    /// Seconds the consumer spent waiting in `next()`.
    private(set) var waitSeconds = 0.0

    init(workers: Int, prefetch: Int, name: String) {
        self.prefetch = max(1, prefetch)
        for w in 0..<max(1, workers) {
            let t = Thread { [weak self] in self?.work() }
            t.name = "\(name)-\(w)"
            t.start()
        }
    }

    deinit { shutdown() }

    func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Starts an epoch of `count` batches at batch `first`; `reset` runs under the lock
    /// before any batch of the new epoch is planned (it repositions a stream).
    func start(count: Int, first: Int, plan: @escaping Plan, reset: () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        generation += 1
        ready.removeAll()
        self.count = count
        nextToPlan = min(first, count)
        nextToConsume = nextToPlan
        self.plan = nil
        reset()
        self.plan = plan
        condition.broadcast()
    }

    /// The next batch in order; rethrows the error of a batch that failed.
    func next() throws -> Batch {
        condition.lock()
        defer { condition.unlock() }
        precondition(plan != nil, "next() before an epoch started")
        precondition(nextToConsume < count, "next() past the end of the epoch (\(count) batches)")
        let start = DispatchTime.now().uptimeNanoseconds
        while ready[nextToConsume] == nil { condition.wait() }
        waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let result = ready.removeValue(forKey: nextToConsume)!
        nextToConsume += 1
        condition.broadcast()
        return try result.get()
    }

    private func work() {
        while true {
            condition.lock()
            while !stopped && (plan == nil || nextToPlan >= count || nextToPlan - nextToConsume >= prefetch) {
                condition.wait()
            }
            if stopped { condition.unlock(); return }
            let index = nextToPlan, gen = generation
            nextToPlan += 1
            let build: Result<() throws -> Batch, Error> = Result { try plan!(index) }
            condition.unlock()
            let result = build.flatMap { b in Result { try b() } }
            condition.lock()
            if gen == generation { ready[index] = result }
            condition.broadcast()
            condition.unlock()
        }
    }
}
