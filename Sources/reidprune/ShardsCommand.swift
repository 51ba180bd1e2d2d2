// `reidprune shards`: writes a split of an ImageNet-style or image-folder data set as
// WebDataset tar shards (original image bytes, class index, classes.json), which
// `data.kind: webdataset` streams.
import ArgumentParser
import Foundation
import ReIDData

struct ShardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shards",
        abstract: "Write a classification split as WebDataset tar shards (OUT/<split>-NNNNNN.tar, OUT/classes.json).",
        discussion: """
            Members are <class>/<name>.<original extension> (the file's bytes, not re-encoded; each is \
            checked to be a whole JPEG or PNG within the pixel limit, its header read and its end \
            present, without decoding its pixels) and \
            <class>/<name>.cls (the class index in ASCII). Training samples are shuffled across shards with \
            --seed. OUT/shards.json records each shard's sample count so that ranks plan epochs without \
            reading the shards. A synthetic set's manifest.json is copied to OUT, so runs on the shards \
            are labelled synthetic.
            """)

    @Option(help: "The data set's root (ImageNet layout or train/ and val/ class folders).") var data: String
    @Option(help: "Which split: train or val.") var split: String
    @Option(help: "Output folder.") var out: String
    @Option(help: "Images per shard.") var imagesPerShard = 1000
    @Option(help: "Seed of the order of training samples across shards.") var seed: UInt64 = 0
    @Option(help: "Refuse an image whose header claims more pixels (as data.max_image_pixels does in training).")
    var maxImagePixels = ImageCodec.defaultMaxImagePixels

    func validate() throws {
        try OptionRange.atLeast(1, [("--images-per-shard", imagesPerShard), ("--max-image-pixels", maxImagePixels)])
    }

    func run() throws {
        guard let s = ClassificationSplit(rawValue: split) else {
            throw ValidationError("--split: expected train or val, got '\(split)'")
        }
        let start = Date()
        let dataset = try ClassificationDataset.open(data, splits: [s])
        var o = ShardWriter.Options()
        (o.split, o.imagesPerShard, o.seed, o.maxImagePixels) = (s, imagesPerShard, seed, maxImagePixels)
        let infos = try ShardWriter.write(dataset, out: out, options: o, log: Console.line)
        let synthetic = FileManager.default.fileExists(atPath: out + "/" + ShardWriter.manifestFile)
        Console.line(String(format: "%@: %d images of %d classes in %d shards in %@%@ (%.1f s)", s.rawValue,
                            infos.reduce(0) { $0 + $1.nsamples }, dataset.numClasses, infos.count, out,
                            synthetic ? " (synthetic data)" : "", Date().timeIntervalSince(start)))
    }
}
