// Replicas: what keeps every rank's copy of the network the same: the root's parameters,
// buffers and optimizer moments sent to every rank, BN running statistics averaged over
// ranks (they follow each rank's own batches without SyncBN), and a checksum comparison
// that names the ranks and the first slot that differ.
import Distributed
import NN
import Tensors

public enum Replicas {
    /// The root's parameters and buffers (and the named optimizer moments, and any extra
    /// tensors such as center-loss centers) on every rank.
    /// - Important: Collective — every rank calls this, in the same order.
    public static func broadcast(_ store: ParameterStore, moments: [String] = [], extra: [Tensor] = [],
                                 comm: Communicator) throws {
        guard comm.size > 1 else { return }
        try comm.broadcast(store.parameters, count: store.parameterCapacity, root: 0)
        try comm.broadcast(store.buffers, count: store.bufferCapacity, root: 0)
        for name in moments { try comm.broadcast(store.moment(name), count: store.parameterCapacity, root: 0) }
        for t in extra { try comm.broadcast(t.data, count: t.count, root: 0) }
        store.parametersChanged()
    }

    /// BN running statistics averaged over ranks (batch counters are left alone).
    /// - Important: Collective — every rank calls this, in the same order.
    public static func averageRunningStatistics(_ store: ParameterStore, comm: Communicator) throws {
        guard comm.size > 1 else { return }
        for (i, slot) in store.bufferSlots.enumerated() where store.bufferRoles[i] != .batchCount {
            try comm.allreduce(store.buffers + slot.offset, count: slot.count, op: .average)
        }
        store.parametersChanged()
    }

    /// Compares a checksum of `store` (parameters, and buffers when asked) across ranks;
    /// a mismatch names the ranks and the first slot that differs.
    /// - Important: Collective — every rank calls this, in the same order.
    public static func verify(_ store: ParameterStore, comm: Communicator, when: String,
                              includeBuffers: Bool = true) throws {
        guard comm.size > 1 else { return }
        let c = store.checksum(includeBuffers: includeBuffers)
        let sums = try comm.allgather(ints: [Int(bitPattern: UInt(c.sum.bitPattern)),
                                             Int(bitPattern: UInt(c.weighted.bitPattern))])
        guard sums.contains(where: { $0 != sums[0] }) else { return }
        let slots = try comm.allgather(floats: store.slotChecksums(includeBuffers: includeBuffers).map { Float($0) })
        let names = store.parameterSlots.map(\.name) + (includeBuffers ? store.bufferSlots.map(\.name) : [])
        let bad = (1..<sums.count).filter { sums[$0] != sums[0] }
        let first = names.indices.first { i in bad.contains { slots[$0][i] != slots[0][i] } }
        throw CommunicationError("replicas diverged \(when): ranks \(bad.map(String.init).joined(separator: ", ")) differ "
                                 + "from rank 0" + (first.map { ", first in '\(names[$0])'" } ?? ""))
    }
}
