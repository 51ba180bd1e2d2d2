// ClassificationDataConfig: the `data:` section of a classification recipe (`task:
// classification`, or a scenario's classification source): where the data set is and in
// which layout (detected when `kind` is auto), the synthetic set to generate there when
// missing (`synth:`), the global batch, torchvision's ImageNet transforms
// (`transform:`), and how batches are loaded.
import Foundation
import ReIDData

public struct ClassificationDataConfig: Sendable, Equatable {
    /// A folder (ImageNet, image folder, shard folder) or a brace pattern of shards.
    public var root = ""
    /// nil: detected from `root`.
    public var kind: ClassificationLayout?
    /// Generate this synthetic classification set at `root` when it is missing.
    public var synth: SynthClassificationOptions?
    /// Images per step over every rank (a multiple of the rank count).
    public var batchSize = 256
    public var transform = ClassificationTransform()
    public var workers = 2
    public var prefetch = 3
    /// Shards: samples in each rank's shuffle buffer.
    public var shuffleBuffer = 1000
    public var maxImagePixels = ImageCodec.defaultMaxImagePixels

    public init() {}

    /// The loader options of this section for a run seeded with `seed`.
    public func loaderOptions(seed: UInt64) -> ClassificationLoaderOptions {
        var o = ClassificationLoaderOptions()
        o.globalBatch = batchSize
        o.workers = workers
        o.prefetch = prefetch
        o.shuffleBuffer = shuffleBuffer
        o.seed = seed
        o.maxImagePixels = maxImagePixels
        o.transform = transform
        return o
    }
}

extension ClassificationDataConfig: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.string("root", &root)
        let kinds: [(String, ClassificationLayout?)] = [("auto", nil)] + ClassificationLayout.allCases.map { ($0.rawValue, $0) }
        try k.choice("kind", &kind, kinds)
        try k.section("synth", &synth)
        if synth != nil, let kind {
            try k.check(kind == .imagenet, "kind", "is \(kind.rawValue), but the synth set is written in the imagenet layout; "
                        + "use auto or imagenet")
        }
        try k.int("batch_size", &batchSize)
        try k.check(batchSize >= 1, "batch_size", "must be at least 1, got \(batchSize)")
        try k.section("transform", &transform)
        try k.int("workers", &workers)
        try k.check(workers >= 1, "workers", "must be at least 1, got \(workers)")
        try k.int("prefetch", &prefetch)
        try k.check(prefetch >= 1, "prefetch", "must be at least 1, got \(prefetch)")
        try k.int("shuffle_buffer", &shuffleBuffer)
        try k.check(shuffleBuffer, in: 1...1_000_000, "shuffle_buffer")
        try k.int("max_image_pixels", &maxImagePixels)
        try k.check(maxImagePixels >= 1, "max_image_pixels", "must be at least 1, got \(maxImagePixels)")
    }
}

/// `synth:` below a classification data section (`reidprune synth --task classification`).
extension SynthClassificationOptions: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.int("classes", &classes)
        try k.int("images_per_class", &imagesPerClass)
        try k.int("val_per_class", &valPerClass)
        try k.uint64("seed", &seed)
        try k.validate { try self.validate() }
    }
}

/// `transform:` below a classification data section: torchvision's RandomResizedCrop +
/// flip for training, Resize + CenterCrop for evaluation, ImageNet normalization.
extension ClassificationTransform: RecipeSection {
    mutating func code(_ k: inout RecipeCoder) throws {
        try k.int("size", &size)
        try k.int("resize", &resize)
        var s = scale, r = ratio
        try k.doubles("scale", &s)
        try k.doubles("ratio", &r)
        (scale, ratio) = (s, r)
        try k.double("flip", &flipProbability)
        try k.bool("dct_scaling", &dctScaling)
        try k.validate { try self.validate() }
    }
}
