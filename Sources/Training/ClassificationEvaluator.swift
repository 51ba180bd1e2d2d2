// ClassificationEvaluator: top-1/top-5 of a classification network on the validation
// set across ranks: every rank runs its own slice of val in inference mode and counts
// (ReIDEval's TopKCounts); the counts are summed over ranks, so N ranks give what one
// rank gives on the whole set, and every rank receives the result. An image that cannot
// be read on one rank becomes the same error on every rank.
import Distributed
import Foundation
import NN
import ReIDData
import ReIDEval

/// This rank's slice of the validation set.
public struct ValidationSlice {
    /// Calls its argument with each of this rank's batches in order (images (N, H, W, 3),
    /// pids = class indices).
    public var forEach: ((Batch) throws -> Void) throws -> Void
    /// Images in the whole validation set (every rank's slices together).
    public var total: Int

    public init(total: Int, forEach: @escaping ((Batch) throws -> Void) throws -> Void) {
        self.total = total
        self.forEach = forEach
    }

    /// The slice a ValidationReader reads.
    public init(_ reader: ValidationReader) {
        self.init(total: reader.totalCount) { body in try reader.forEach(body) }
    }
}

public struct ClassificationEvaluator: ModelEvaluator {
    /// Starts a pass over this rank's slice.
    public let slice: () throws -> ValidationSlice
    public let comm: Communicator

    public init(comm: Communicator, slice: @escaping () throws -> ValidationSlice) {
        self.comm = comm
        self.slice = slice
    }

    private struct Outcome: Codable {
        var counts: [Int]
        var total: Int
        var error: String?
    }

    /// - Important: Collective — every rank calls this, in the same order.
    public func evaluate(_ net: ReIDNet) throws -> ClassificationMetrics {
        guard net.headConfig.task == .classification else {
            throw ConfigError("classification evaluation needs a classification model, not a re-ID one")
        }
        var mine = Outcome(counts: [0, 0, 0], total: 0)
        do {
            let pass = try slice()
            var counts = TopKCounts()
            mine.total = pass.total
            try pass.forEach { batch in
                let out = try net.forward(batch.images, mode: .inference)
                guard let logits = out.logits, logits.shape[1] == net.headConfig.numClasses else {
                    throw EvaluationError("the network gave no logits over its \(net.headConfig.numClasses) classes")
                }
                if let bad = batch.pids.first(where: { $0 < 0 || $0 >= logits.shape[1] }) {
                    throw EvaluationError("validation label \(bad) is outside the model's \(logits.shape[1]) classes")
                }
                counts += TopKCounts.count(logits: logits, labels: batch.pids)
            }
            mine.counts = counts.values
        } catch {
            mine.error = "\(error)"
        }
        let all = try comm.allgather(Array(try JSONEncoder().encode(mine))).map {
            try JSONDecoder().decode(Outcome.self, from: Data($0))
        }
        if let (rank, failed) = all.enumerated().first(where: { $0.element.error != nil }) {
            throw EvaluationError("rank \(rank): \(failed.error!)")
        }
        let sum = all.reduce(TopKCounts()) { $0 + TopKCounts(values: $1.counts) }
        guard sum.images == all[0].total else {
            throw EvaluationError("the ranks' validation slices hold \(sum.images) images, the validation set \(all[0].total)")
        }
        return try ClassificationMetrics(counts: sum)
    }

    public func evaluateModel(_ net: ReIDNet) throws -> any EvaluatedMetrics { try evaluate(net) }
}
