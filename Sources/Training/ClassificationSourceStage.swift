// ClassificationSourceStage: a scenario's source as a classification pretraining stage,
// as the pruning-for-re-ID study pretrains and prunes on ImageNet: `scenario.source:
// {task: classification, data: {...}, epochs: N, train: {...}, prune: {...}}`. The source
// stages (the source model, the baselines' source models, the source-pruning stages of
// scenarios 1 and 2) are classification runs; the target stages start from their models.
import Foundation
import Pruning

public struct ClassificationSourceStage: Sendable {
    /// The classification data set (`data:` of a classification recipe).
    public var data = ClassificationDataConfig()
    /// Epochs of the source stage.
    public var epochs = 90
    /// Training of the source stages: the classification defaults (torchvision's
    /// reference) under the recipe's own `distributed:` options, then these keys.
    public var train = TrainerConfig.classification
    /// The pruning schedule of the source-pruning stages (steps, every, start_epoch,
    /// ranking, ...); the scenario sets its criterion and FLOPs target. Without it, one
    /// round at the start, as for re-ID sources.
    public var prune: PruneSchedule?

    public init() {}
}

extension ClassificationSourceStage: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.section("data", &data)
        try k.check(!data.root.isEmpty, "data.root", "missing")
        try k.int("epochs", &epochs)
        try k.check(epochs, in: 1...TrainerConfig.maxEpochs, "epochs")
        try k.section("train", &train)
        for (key, weight) in [("triplet", train.tripletWeight), ("contrastive", train.contrastiveWeight),
                              ("center", train.centerWeight)] {
            try k.check(weight == 0, "train.loss.\(key)", "a classification source trains with cross-entropy alone; set it to 0")
        }
        try k.section("prune", &prune)
    }
}
