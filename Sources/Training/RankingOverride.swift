// RankingOverride: one criterion's entry of `prune.overrides`: the ranking mode and
// normalizer that criterion uses instead of the recipe's or its own.
import Pruning

public struct RankingOverride: Sendable, Equatable {
    public var mode: RankingMode?
    public var normalizer: Normalizer?
    public init() {}
    public init(mode: RankingMode?, normalizer: Normalizer?) {
        self.mode = mode
        self.normalizer = normalizer
    }
}

extension RankingOverride: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.optional("ranking", &mode, start: .global) { k, v in
            try k.choice("ranking", &v, [("global", .global), ("layerwise", .layerwise)])
        }
        try k.optional("normalizer", &normalizer, start: .l2) { k, v in try k.choice("normalizer", &v) }
    }
}
