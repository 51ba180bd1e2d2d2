// ShardWriter: writes a split of a folder-layout classification data set as WebDataset
// tar shards: `OUT/<split>-NNNNNN.tar` with members `<class>/<stem>.<original extension>`
// (the file's bytes, never re-encoded) and `<class>/<stem>.cls` (the class index in
// ASCII), plus `OUT/classes.json` and the sample counts in `OUT/shards.json`. Training
// samples are shuffled (seeded) before writing, so that a shard mixes classes. A
// synthetic set's manifest goes along as `OUT/manifest.json`, so that runs on the shards
// are labelled synthetic as runs on the folders are.
import Foundation
import Tensors

public enum ShardWriter {
    public struct Options: Sendable {
        public var split = ClassificationSplit.train
        public var imagesPerShard = 1000
        /// Seed of the order of training samples across shards (validation keeps its order).
        public var seed: UInt64 = 0
        /// Images whose header claims more pixels are refused (as training refuses them).
        public var maxImagePixels = ImageCodec.defaultMaxImagePixels
        public init() {}
    }

    /// The member key of a sample: `<class>/<file name without extension>`, dots made
    /// underscores (WebDataset's key ends at the first dot of the file name).
    static func key(_ sample: ClassificationSample, className: String) -> (key: String, ext: String) {
        let name = (sample.path as NSString).lastPathComponent
        let ext = (name as NSString).pathExtension
        let stem = (name as NSString).deletingPathExtension.replacingOccurrences(of: ".", with: "_")
        return ("\(className)/\(stem)", ext)
    }

    /// Writes the shards of `o.split` into `out` (created when missing, and removed again
    /// when the write fails) and returns them. Each image is checked to be whole as it is
    /// copied; earlier shards of the same split in `out` are replaced only once every new
    /// one is complete.
    @discardableResult
    public static func write(_ dataset: ClassificationDataset, out: String, options o: Options,
                             log: (String) -> Void = { _ in }) throws -> [ShardInfo] {
        guard !dataset.isSharded else { throw DatasetError("\(dataset.root): already in shards") }
        guard o.imagesPerShard >= 1 else {
            throw DatasetError("--images-per-shard: must be at least 1, got \(o.imagesPerShard)")
        }
        var samples = Array(o.split == .train ? dataset.train : dataset.val)
        guard !samples.isEmpty else { throw DatasetError("\(dataset.root): the \(o.split.rawValue) split is empty") }
        if o.split == .train {
            var rng = SeededRandom(seed: o.seed, keys: 0x5752_4954)
            rng.shuffle(&samples)
        }
        var seen: [String: String] = [:]
        for s in samples {
            let k = key(s, className: dataset.classNames[s.label]).key
            if let other = seen[k] {
                throw DatasetError("\(s.path): has the same shard key \(k) as \(other); rename one of them")
            }
            seen[k] = s.path
        }
        let fm = FileManager.default
        // A folder made here is removed again when the shards cannot all be written.
        var st = stat()
        var made = lstat(out, &st) == 0 ? nil : out  // lstat: a dangling symbolic link is there, and kept
        defer { if let made { try? fm.removeItem(atPath: made) } }
        do {
            try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw DatasetError("\(out): cannot create: \(FileProblem.reason(error))")
        }
        let classesPath = out + "/" + ShardIndex.classesFile
        let classesExist = fm.fileExists(atPath: classesPath)
        if classesExist {
            let existing = try ShardIndex.readClasses(classesPath)
            guard existing == dataset.classNames else {
                throw DatasetError("\(classesPath): lists \(existing.count) classes that differ from \(dataset.root)'s "
                                   + "\(dataset.numClasses); write into another folder")
            }
        }
        let old = Set(ShardPattern.files(in: out, split: o.split.rawValue))
        var infos: [ShardInfo] = []
        // Every shard is completed under a temporary name first; only when all are does any
        // replace an earlier one (a failed write leaves the earlier shards as they were).
        var staged: [(temp: String, path: String)] = []
        defer { for s in staged { try? fm.removeItem(atPath: s.temp) } }
        let codec = ImageCodec(maxImagePixels: o.maxImagePixels)
        let (full, spill) = samples.count.quotientAndRemainder(dividingBy: o.imagesPerShard)
        let shardCount = full + (spill > 0 ? 1 : 0)
        for shard in 0..<shardCount {
            let name = String(format: "%@-%06d.tar", o.split.rawValue, shard)
            let writer = try TarShardWriter(path: out + "/" + name)
            let first = shard * o.imagesPerShard
            let part = samples[first..<(first + min(o.imagesPerShard, samples.count - first))]
            for s in part {
                let (k, ext) = key(s, className: dataset.classNames[s.label])
                if let problem = FileProblem.reading(s.path) { throw DatasetError("\(s.path): cannot read: \(problem)") }
                let bytes: Data
                do {
                    bytes = try Data(contentsOf: URL(fileURLWithPath: s.path))
                } catch {
                    throw DatasetError("\(s.path): cannot read: \(FileProblem.reason(error))")
                }
                try codec.checkWhole(bytes, path: s.path)
                try writer.add(name: "\(k).\(ext)", bytes: bytes)
                try writer.add(name: "\(k).cls", bytes: Data(String(s.label).utf8))
            }
            staged.append((try writer.complete(), out + "/" + name))
            infos.append(ShardInfo(url: name, nsamples: part.count))
            if (shard + 1) % 10 == 0 || shard + 1 == shardCount {
                log("\(o.split.rawValue): \(shard + 1)/\(shardCount) shards, \(first + part.count) images")
            }
        }
        if !classesExist { try ShardIndex.writeClasses(dataset.classNames, to: classesPath) }
        try carryManifest(from: dataset.root, to: out, log: log)
        try AtomicFile.renameAll(&staged)
        let written = Set(infos.map { out + "/" + $0.url })
        for stale in old.subtracting(written).sorted() {
            try? fm.removeItem(atPath: stale)
            log("removed \(stale) (left from an earlier, larger write)")
        }
        try ShardIndex.write(infos, split: o.split, dir: out)
        made = nil
        return infos
    }

    /// The generator's manifest of a synthetic set (`manifest.json`) is copied beside
    /// the shards; one left in `out` by an earlier write of a synthetic set is removed
    /// when the source is not synthetic, so the label never outlives the data.
    static func carryManifest(from root: String, to out: String, log: (String) -> Void) throws {
        let source = root + "/" + manifestFile, target = out + "/" + manifestFile
        let fm = FileManager.default
        if let data = fm.contents(atPath: source) {
            try AtomicFile.write(data, to: target)
            log("\(root) is synthetic: its \(manifestFile) goes with the shards")
        } else if fm.fileExists(atPath: target) {
            do {
                try fm.removeItem(atPath: target)
            } catch {
                throw DatasetError("\(target): cannot remove the synthetic label of an earlier write: \(FileProblem.reason(error))")
            }
            log("removed \(target) (an earlier write's synthetic label; \(root) is not synthetic)")
        }
    }

    /// The file that marks a data set (folders or shards) as synthetic.
    public static let manifestFile = "manifest.json"
}
