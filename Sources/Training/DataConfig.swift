// DataConfig: a recipe's data section: where the data set is (and the SynthReID set to
// generate there when missing), how training images are augmented, sampled and loaded.
// It reads at any key (`data`, `scenario.source`, `scenario.targets[1]`), over the
// values it starts from, so a scenario's data sections override the recipe's own.
import Foundation
import ReIDData
import Tensors

public struct DataConfig: Sendable {
    /// The data set folder; empty: not given (a training run requires it, the data
    /// section of a scenario recipe does not).
    public var root = ""
    public var kind: DatasetKind?
    /// More training sets combined with the first (pids namespaced per set).
    public var extraTrainRoots: [String] = []
    public var cuhk03Labeled = false
    /// MSMT17: train on list_train.txt and list_val.txt (torchreid: list_train.txt only).
    public var msmt17Val = false
    /// Generate this SynthReID data set at `root` when it is missing.
    public var synth: SynthOptions?
    public var augment = AugmentConfig()
    public var identitySampler = true
    public var identities = 16
    public var instances = 4
    public var batchSize = 64
    public var loader = LoaderOptions()

    public init() {}
}

extension DataConfig: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.string("root", &root)
        let kinds: [(String, DatasetKind?)] = [("auto", nil)] + DatasetKind.allCases.map { ($0.rawValue, $0) }
        try k.choice("kind", &kind, kinds)
        try k.strings("extra_train_roots", &extraTrainRoots)
        try k.bool("cuhk03_labeled", &cuhk03Labeled)
        try k.bool("msmt17_val", &msmt17Val)
        try k.section("synth", &synth)
        if let synth, let kind {
            let why = synth.customLayoutReason.map { " (\($0))" } ?? ""
            try k.check(kind == synth.layout, "kind", "is \(kind.rawValue), but the synth set is written in the "
                        + "\(synth.layout.rawValue) layout\(why); use auto or \(synth.layout.rawValue)")
        }
        try k.int("height", &augment.height)
        try k.int("width", &augment.width)
        for (key, value, minimum) in [("height", augment.height, 32), ("width", augment.width, 16)] {
            try k.check(value >= minimum, key, "must be at least \(minimum), got \(value)")
            try k.check(value <= ImageLimits.maxSide, key, "must be at most \(ImageLimits.maxSide), got \(value)")
        }
        try k.section("augment", &augment)
        try k.choice("sampler", &identitySampler, [("identity", true), ("shuffle", false)])
        try k.int("identities", &identities)
        try k.int("instances", &instances)
        try k.int("batch_size", &batchSize)
        try k.int("workers", &loader.workers)
        try k.int("prefetch", &loader.prefetch)
        for (key, value) in [("identities", identities), ("instances", instances), ("batch_size", batchSize),
                             ("workers", loader.workers), ("prefetch", loader.prefetch)] {
            try k.check(value >= 1, key, "must be at least 1, got \(value)")
        }
        try k.bool("skip_corrupt", &loader.skipCorrupt)
        try k.int("max_image_pixels", &loader.maxImagePixels)
        try k.check(loader.maxImagePixels >= 1, "max_image_pixels", "must be at least 1, got \(loader.maxImagePixels)")
    }
}

/// `augment:` below a data section (the crop size is the data section's height and width).
extension AugmentConfig: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.double("flip", &flipProbability)
        try k.int("padding", &padding)
        try k.double("erasing", &erasingProbability)
        try k.double("brightness", &brightness)
        try k.double("contrast", &contrast)
        try k.double("saturation", &saturation)
        try k.validate { try self.validate() }
    }
}

/// `synth:` below a data section.
extension SynthOptions: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.string("domain", &domain)
        try k.int("ids", &ids)
        try k.int("cameras", &cameras)
        try k.int("images_per_id", &imagesPerId)
        try k.uint64("seed", &seed)
        try k.int("height", &height)
        try k.int("width", &width)
        try k.double("look_alikes", &lookAlikes)
        try k.validate { try self.validate() }
    }
}
