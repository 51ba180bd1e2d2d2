// PrunePlan: which channels of each group survive one pruning round, with the
// architecture before and after, Codable so that it can be broadcast to every rank,
// saved with checkpoints and replayed on a fresh model to rebuild a pruned architecture.
import Foundation
import NN

public struct PrunePlan: Codable, Equatable, Sendable {
    public var before: ResNetArchitecture
    public var after: ResNetArchitecture
    public var head: HeadConfig
    /// Kept channel indices (ascending) of every group of `before`, by group name.
    public var kept: [String: [Int]]
    public var criterion: String
    public var ranking: String
    public var flopsBefore: Int
    public var flopsAfter: Int
    /// Predicted inference milliseconds before and after (latency table; nil without one).
    public var latencyBefore: Double?
    public var latencyAfter: Double?

    /// Deterministic bytes (sorted keys), identical on every rank for the same plan.
    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return Array(try e.encode(self))
    }

    public static func decode(_ bytes: [UInt8]) throws -> PrunePlan {
        try JSONDecoder().decode(PrunePlan.self, from: Data(bytes))
    }

    /// Kept counts per group of `map` (full width for groups the plan does not mention).
    public func counts(_ map: GroupMap) -> [Int] { map.groups.map { kept[$0.name]?.count ?? $0.channels } }
}

public struct PruningError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

extension PrunePlan {
    /// The metadata key of a model file's pruning history.
    public static let historyMetadataKey = "reidprune.pruning_history"

    /// The pruning history a model file's metadata carries (empty when it has none).
    public static func history(in metadata: [String: String]) throws -> [PrunePlan] {
        try metadata[historyMetadataKey].map(decodeHistory) ?? []
    }

    /// Model-file metadata that carries `history` (nothing for an empty history).
    public static func metadata(for history: [PrunePlan]) throws -> [String: String] {
        history.isEmpty ? [:] : [historyMetadataKey: try encodeHistory(history)]
    }

    /// The plans of a run, in order, as saved in model metadata.
    public static func encodeHistory(_ plans: [PrunePlan]) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(plans), as: UTF8.self)
    }

    public static func decodeHistory(_ text: String) throws -> [PrunePlan] {
        do {
            return try JSONDecoder().decode([PrunePlan].self, from: Data(text.utf8))
        } catch {
            throw PruningError("unreadable pruning history: \(error)")
        }
    }

    /// Rebuilds the architecture a history ends with, starting from `arch`; throws when a
    /// plan does not start from the architecture the previous one produced.
    public static func replay(_ history: [PrunePlan], from arch: ResNetArchitecture) throws -> ResNetArchitecture {
        var a = arch
        for (i, plan) in history.enumerated() {
            guard plan.before == a else {
                throw PruningError("pruning history: plan \(i + 1) starts from another architecture than plan \(i) left")
            }
            let map = GroupMap.build(a, head: plan.head)
            let rebuilt = a.withGroupCounts(plan.counts(map), map: map)
            guard rebuilt == plan.after else { throw PruningError("pruning history: plan \(i + 1) is inconsistent") }
            a = rebuilt
        }
        return a
    }
}
