// ClassificationDataBenchmark: the ImageNet training transform's decode + augment rate on
// one thread over a folder of images held in memory (`reidprune bench data --source`),
// and a loader's memory over a whole data set (`reidprune bench loader`): peak resident
// size after listing the data set and after streaming its batches.
import Foundation
import ReIDData
import Tensors

public enum ClassificationDataBenchmark {
    public struct Result: Codable, Sendable {
        public var bench = "data"
        public var transform = "RandomResizedCrop+flip+normalize"
        public var source: String
        public var size: Int
        public var files: Int
        public var images: Int
        public var dct_scaling: Bool
        public var images_per_s: Double

        public var text: String {
            String(format: "decode + augment (RandomResizedCrop %d, flip, normalize; cropped decode%@) over %d files of %@: "
                   + "%.0f images/s on one core", size, dct_scaling ? ", DCT scaling" : "", files, source, images_per_s)
        }
    }

    /// The image files under `root`: a classification layout's training split, or every
    /// jpg/jpeg/png below the folder, in sorted order.
    public static func files(_ root: String) throws -> [String] {
        if let layout = ClassificationLayout.recognize(root), layout != .webdataset {
            return try ClassificationDataset.open(root, layout: layout, splits: [.train]).train.map(\.path)
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isFolder), isFolder.boolValue,
              let walker = FileManager.default.enumerator(atPath: root) else {
            throw DatasetError("\(root): no such folder")
        }
        let exts: Set<String> = ["jpg", "jpeg", "png"]
        var out: [String] = []
        while let p = walker.nextObject() as? String {
            if exts.contains((p as NSString).pathExtension.lowercased()) { out.append(root + "/" + p) }
        }
        guard !out.isEmpty else { throw DatasetError("\(root): no jpg, jpeg or png files") }
        return out.sorted()
    }

    /// Decode + RandomResizedCrop + flip + normalize of `images` samples, cycling over up to
    /// `maxFiles` files (evenly spaced over the sorted list) read into memory first, on this thread.
    public static func run(source: String, size: Int, images: Int, maxFiles: Int = 1000, dctScaling: Bool = true) throws
        -> Result {
        DNNL.setThreads(1)
        // Evenly spaced over the sorted list (every class of a large set), as the torchvision script picks them.
        let all = try files(source)
        let k = min(maxFiles, all.count)
        let paths = (0..<k).map { all[$0 * all.count / k] }
        let blobs = try paths.map { p -> Data in
            guard let d = FileManager.default.contents(atPath: p) else { throw DatasetError("\(p): unreadable") }
            return d
        }
        var t = ClassificationTransform()
        t.size = size
        t.dctScaling = dctScaling
        try t.validate()
        let decoder = ClassificationDecoder(transform: t)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: size * size * 3)
        defer { out.deallocate() }
        let start = Date()
        for i in 0..<images {
            var rng = SeededRandom(seed: 1, keys: i)
            try decoder.training(blobs[i % blobs.count], name: paths[i % blobs.count], rng: &rng, into: out)
        }
        return Result(source: source, size: size, files: blobs.count, images: images, dct_scaling: dctScaling,
                      images_per_s: Double(images) / Date().timeIntervalSince(start))
    }

    public struct LoaderResult: Codable, Sendable {
        public var bench = "loader"
        public var data: String
        public var layout: String
        public var train_images: Int
        public var batches: Int
        public var batch: Int
        public var shuffle_buffer: Int
        /// Resident size (MB) after opening the data set (listing files or shards).
        public var rss_after_open_mb: Double
        /// Peak resident size (MB) of the process over the run.
        public var peak_rss_mb: Double
        public var images_per_s: Double

        public var text: String {
            String(format: "%@ (%@, %d training images): %d batches of %d, shuffle buffer %d: resident %.0f MB after "
                   + "opening, peak %.0f MB; %.0f images/s", data, layout, train_images, batches, batch, shuffle_buffer,
                   rss_after_open_mb, peak_rss_mb, images_per_s)
        }
    }

    /// The process's resident size now and at its peak, in MB (Linux /proc/self/status).
    public static func residentMB() -> (now: Double, peak: Double) {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Double {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// Streams `batches` training batches (0: a whole epoch) of a classification data set
    /// through the training loader (rank 0 of 1) and reports its memory.
    public static func loader(data: String, batch: Int, batches: Int, workers: Int, shuffleBuffer: Int, size: Int) throws
        -> LoaderResult {
        DNNL.setThreads(1)
        let dataset = try ClassificationDataset.open(data, splits: [.train])
        let afterOpen = residentMB().now
        var o = ClassificationLoaderOptions()
        (o.globalBatch, o.workers, o.shuffleBuffer) = (batch, workers, shuffleBuffer)
        o.transform.size = size
        let source = try ClassificationSource(dataset: dataset, options: o)
        let count = batches > 0 ? min(batches, source.batchesPerEpoch) : source.batchesPerEpoch
        let start = Date()
        source.startEpoch(0)
        for _ in 0..<count { _ = try source.next() }
        let seconds = Date().timeIntervalSince(start)
        source.shutdown()
        return LoaderResult(data: data, layout: dataset.layout.rawValue, train_images: dataset.count(.train), batches: count,
                            batch: batch, shuffle_buffer: dataset.isSharded ? shuffleBuffer : 0,
                            rss_after_open_mb: afterOpen, peak_rss_mb: residentMB().peak,
                            images_per_s: Double(count * batch) / seconds)
    }
}
