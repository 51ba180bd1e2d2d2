// GradientSync: sums the gradient buffer over all ranks after (or during) backward, in
// buckets of about 25 MB taken from the end of the flat buffer (the head and the last
// layers, whose gradients backward writes first). Blocking mode allreduces the buckets
// after backward; overlapped mode starts a non-blocking allreduce for each bucket as
// soon as backward has written all of its slots, and tests pending ones as backward
// goes on so that they progress. With bf16 gradient precision (as PyTorch DDP's
// bf16_compress_hook and Horovod's compression do with their 16-bit types), each bucket is
// rounded to bfloat16 into a staging buffer, summed over the ranks in bfloat16 (half the
// bytes) and expanded back into the float32 gradients; one rank sends nothing and rounds
// nothing.
import Distributed
import Foundation
import NN
import Tensors

public enum SyncMode: String, Codable, Sendable {
    case blocking
    case overlapped
}

public final class GradientSync {
    public let comm: Communicator
    public let mode: SyncMode
    /// What the ranks exchange: float32 gradients, or bfloat16 ones.
    public let precision: Precision
    let store: ParameterStore
    /// Per bucket, its gradients as bfloat16 (`BF16Pack.slots` floats) while they are summed.
    private var staging: [Tensor] = []
    /// Float ranges [start, end) of the gradient buffer, last layers first.
    public let buckets: [Range<Int>]
    private let bucketOfSlot: [Int]
    private var remaining: [Int]
    private let slotsPerBucket: [Int]
    private var pending: [PendingCollective] = []
    /// Seconds spent inside communication calls in the last step (blocking waits included).
    public private(set) var lastSeconds = 0.0

    public init(store: ParameterStore, comm: Communicator, mode: SyncMode, bucketBytes: Int = 25 << 20,
                precision: Precision = .fp32) {
        self.store = store
        self.comm = comm
        self.mode = mode
        self.precision = precision
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
            if self.remaining[b] == 0, let p = try? self.start(bucket: b) { self.pending.append(p) }
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
            for (b, r) in buckets.enumerated() {
                if precision == .bf16 {
                    try comm.allreduceBF16(pack(bucket: b), count: r.count)
                    expand(bucket: b)
                } else {
                    try comm.allreduce(store.gradients + r.lowerBound, count: r.count, op: .sum)
                }
            }
        case .overlapped:
            store.onGradientReady = nil
            guard pending.count == buckets.count else {
                throw CommunicationError("rank \(comm.rank): \(pending.count) of \(buckets.count) gradient buckets started; "
                                         + "a layer did not report its gradient")
            }
            for p in pending { try p.wait() }
            pending.removeAll()
            if precision == .bf16 { for b in buckets.indices { expand(bucket: b) } }
        }
        lastSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// Starts the non-blocking sum of one bucket.
    private func start(bucket b: Int) throws -> PendingCollective {
        let r = buckets[b]
        if precision == .bf16 { return try comm.startAllreduceBF16(pack(bucket: b), count: r.count) }
        return try comm.startAllreduce(store.gradients + r.lowerBound, count: r.count, op: .sum)
    }

    /// The bucket's gradients rounded to bfloat16 into its staging buffer (made on first use).
    private func pack(bucket b: Int) -> UnsafeMutablePointer<UInt16> {
        if staging.isEmpty { staging = buckets.map { Tensor(shape: [BF16Pack.slots($0.count)], layout: .x) } }
        BF16Pack.pack(gradients(bucket: b), into: staging[b])
        return UnsafeMutableRawPointer(staging[b].data).assumingMemoryBound(to: UInt16.self)
    }

    /// The summed bfloat16 values back into the bucket's float32 gradients.
    private func expand(bucket b: Int) { BF16Pack.expand(staging[b], into: gradients(bucket: b)) }

    private func gradients(bucket b: Int) -> Tensor {
        let r = buckets[b]
        return Tensor(viewing: store.gradients + r.lowerBound, shape: [r.count], layout: .x)
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
