// DataBenchmark: decode + augment images/s on one thread for SynthReID JPEG crops of a
// given size (flip, pad-crop, erasing, normalize), for `reidprune bench data`.
import Foundation
import ReIDData
import Tensors

public enum DataBenchmark {
    public struct Result: Codable, Sendable {
        public var bench = "data"
        public var height: Int
        public var width: Int
        public var images_per_s_per_core: Double

        public var text: String {
            String(format: "decode + augment %dx%d JPEG crops (flip, pad-crop, erasing, normalize): %.0f images/s on one core",
                   height, width, images_per_s_per_core)
        }
    }

    public static func run(height: Int, width: Int, images: Int) throws -> Result {
        DNNL.setThreads(1)
        // A small SynthReID set at the crop size, in memory as JPEG bytes.
        var options = SynthOptions()
        options.height = height
        options.width = width
        options.ids = 40
        options.imagesPerId = 8
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-benchdata-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try SynthReID.generate(options, out: tmp)
        let files = try DatasetReader.read(root: tmp).train.map(\.path)
        let blobs = try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        var augment = AugmentConfig()
        augment.height = height
        augment.width = width
        let codec = ImageCodec()
        let out = UnsafeMutablePointer<Float>.allocate(capacity: height * width * 3)
        defer { out.deallocate() }
        let start = Date()
        for i in 0..<images {
            let image = try codec.decode(blobs[i % blobs.count])
            var rng = SeededRandom(seed: 1, keys: 0, i)
            Augmentation.apply(image, config: augment, rng: &rng, into: out)
        }
        return Result(height: height, width: width, images_per_s_per_core: Double(images) / Date().timeIntervalSince(start))
    }
}
