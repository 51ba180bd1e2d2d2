// GradientSync: sums the gradient buffer over all ranks after (or during) backward, in
// buckets of about 25 MB taken from the end of the flat buffer (the head and the last
// layers, whose gradients backward writes first). Blocking mode allreduces the buckets
// after backward; overlapped mode starts a non-blocking allreduce for each bucket as
// soon as backward has written all of its slots, and tests pending ones as backward
// goes on so that they progress.
import Distributed
import Foundation
import NN

public enum SyncMode: String, Codable, Sendable {
    case blocking
    case overlapped
}

public final class GradientSync {
    public let comm: Communicator
    public let mode: SyncMode
    let store: ParameterStore
    /// Float ranges [start, end) of the gradient buffer, last layers first.
    public let buckets: [Range<Int>]
    private let bucketOfSlot: [Int]
    private var remaining: [Int]
    private let slotsPerBucket: [Int]
    private var pending: [PendingCollective] = []
    /// Seconds spent inside communication calls in the last step (blocking waits included).
    public private(set) var lastSeconds = 0.0

    public init(store: ParameterStore, comm: Communicator, mode: SyncMode, bucketBytes: Int = 25 << 20) {
        self.store = store
        self.comm = comm
        self.mode = mode
        let limit = max(bucketBytes / 4, 16)
        var buckets: [Range<Int>] = []
        var bucketOf = [Int](repeating: 0, count: store.parameterSlots.count)
        var end = store.parameterCapacity
        var start = end
        var counts: [Int] = []
        var count = 0
        for i in store.parameterSlots.indices.reversed() {
            let slot = store.parameterSlots[i]
            if end - slot.offset > limit && start < end {
                buckets.append(start..<end)
                counts.append(count)
                end = start
                count = 0
            }
            start = slot.offset
            bucketOf[i] = buckets.count
            count += 1
        }
        buckets.append(0..<end)
        counts.append(count)
        self.buckets = buckets
        bucketOfSlot = bucketOf
        slotsPerBucket = counts
        remaining = counts
    }

    /// Before backward: arms the per-slot hooks in overlapped mode.
    public func beginBackward() {
        lastSeconds = 0
        guard comm.size > 1, mode == .overlapped else { return }
        remaining = slotsPerBucket
        pending.removeAll()
        store.onGradientReady = { [unowned self] slot in
            let b = self.bucketOfSlot[slot]
            self.remaining[b] -= 1
            let t0 = DispatchTime.now().uptimeNanoseconds
            if self.remaining[b] == 0 {
                let r = self.buckets[b]
                if let p = try? self.comm.startAllreduce(self.store.gradients + r.lowerBound, count: r.count, op: .sum) {
                    self.pending.append(p)
                }
            }
            for p in self.pending { _ = try? p.test() }
            self.lastSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
    }

    /// After backward: finishes (or, blocking, performs) the allreduce of every bucket.
    /// - Important: Collective — every rank calls this, in the same order.
    public func finishBackward() throws {
        guard comm.size > 1 else { return }
        let t0 = DispatchTime.now().uptimeNanoseconds
        switch mode {
        case .blocking:
            for r in buckets { try comm.allreduce(store.gradients + r.lowerBound, count: r.count, op: .sum) }
        case .overlapped:
            store.onGradientReady = nil
            guard pending.count == buckets.count else {
                throw CommunicationError("rank \(comm.rank): \(pending.count) of \(buckets.count) gradient buckets started; "
                                         + "a layer did not report its gradient")
            }
            for p in pending { try p.wait() }
            pending.removeAll()
        }
        lastSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }
}

/// Sums Double buffers over the communicator's ranks: the SyncBN statistics reducer.
final class CommunicatorReducer: StatisticsReducer {
    let comm: Communicator
    init(_ comm: Communicator) { self.comm = comm }
    func sum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        try comm.allreduce(buffer, count: count, op: .sum)
    }
}
