// ClassificationDataset: a classification data set opened from its root: the class
// names (index = position), and per split either the listed image files (folder
// layouts) or the tar shards with their sample counts (WebDataset). Opening shards reads
// no image: counts come from shards.json, or from the shards' headers when it is absent.
import Foundation

public enum ClassificationSplit: String, Codable, CaseIterable, Sendable {
    case train, val
}

/// A shard file and its number of samples.
public struct ShardInfo: Codable, Hashable, Sendable {
    /// The shard's path (relative to the shard folder in shards.json).
    public var url: String
    public var nsamples: Int

    public init(url: String, nsamples: Int) {
        self.url = url
        self.nsamples = nsamples
    }
}

public struct ClassificationDataset: Sendable {
    public let root: String
    public let layout: ClassificationLayout
    /// Class names; a class's index is its position (sorted folder names, as ImageFolder).
    public let classNames: [String]
    /// Folder layouts: the images of each split, in class order then file-name order
    /// (held compactly: a listed image costs about 12 bytes plus its file name).
    public let train: SampleList
    public let val: SampleList
    /// WebDataset: the shards of each split, in name order.
    public let trainShards: [ShardInfo]
    public let valShards: [ShardInfo]

    public var numClasses: Int { classNames.count }
    public var isSharded: Bool { layout == .webdataset }

    /// Images in `split`.
    public func count(_ split: ClassificationSplit) -> Int {
        switch split {
        case .train: return isSharded ? trainShards.reduce(0) { $0 + $1.nsamples } : train.count
        case .val: return isSharded ? valShards.reduce(0) { $0 + $1.nsamples } : val.count
        }
    }

    /// Opens `root` as `layout` (detected when nil). `splits` limits what is listed (a
    /// training run that never evaluates need not list val/).
    public static func open(_ root: String, layout: ClassificationLayout? = nil,
                            splits: Set<ClassificationSplit> = [.train, .val]) throws -> ClassificationDataset {
        let layout = try layout ?? ClassificationLayout.detect(root)
        switch layout {
        case .imagenet, .imagefolder:
            var base = root
            if FolderLayout.isDirectory(root + "/ILSVRC/Data/CLS-LOC/train") { base = root + "/ILSVRC/Data/CLS-LOC" }
            guard FolderLayout.isDirectory(base) else { throw DatasetError("\(root): no such folder") }
            let classes = try FolderLayout.classNames(base + "/train")
            let train = splits.contains(.train) ? try FolderLayout.samples(base + "/train", classNames: classes) : SampleList()
            var val = SampleList()
            if splits.contains(.val) {
                val = layout == .imagenet ? try ImageNetVal.samples(base + "/val", root: base, classNames: classes)
                                          : try FolderLayout.samples(base + "/val", classNames: classes)
                guard !val.isEmpty else { throw DatasetError("\(base)/val: no class folders with images") }
            }
            return ClassificationDataset(root: root, layout: layout, classNames: classes, train: train, val: val,
                                         trainShards: [], valShards: [])
        case .webdataset:
            return try openShards(root, splits: splits)
        }
    }

    static func openShards(_ root: String, splits: Set<ClassificationSplit>) throws -> ClassificationDataset {
        let dir: String
        var train: [String], val: [String]
        if ShardPattern.isPattern(root) || root.hasSuffix(".tar") || root.hasSuffix(".tar.gz") {
            dir = (root as NSString).deletingLastPathComponent
            train = try ShardPattern.expand(root)
            val = ShardPattern.files(in: dir.isEmpty ? "." : dir, split: ClassificationSplit.val.rawValue)
            if train.contains(where: { ($0 as NSString).lastPathComponent.hasPrefix("val-") }) { val = [] }
        } else {
            dir = root
            train = ShardPattern.files(in: root, split: ClassificationSplit.train.rawValue)
            val = ShardPattern.files(in: root, split: ClassificationSplit.val.rawValue)
        }
        let folder = dir.isEmpty ? "." : dir
        let classes = try ShardIndex.readClasses(folder + "/" + ShardIndex.classesFile)
        let index = ShardIndex.read(folder)
        func infos(_ paths: [String], _ split: ClassificationSplit) throws -> [ShardInfo] {
            guard splits.contains(split) else { return [] }
            guard !paths.isEmpty else {
                throw DatasetError("\(root): no \(split.rawValue) shards (\(split.rawValue)-NNNNNN.tar)")
            }
            return try paths.map { p in
                let name = (p as NSString).lastPathComponent
                if let n = index[name] {
                    guard FileManager.default.fileExists(atPath: p) else { throw DatasetError("\(p): missing shard") }
                    return ShardInfo(url: p, nsamples: n)
                }
                return ShardInfo(url: p, nsamples: try TarShardReader.count(p))
            }
        }
        return ClassificationDataset(root: root, layout: .webdataset, classNames: classes, train: SampleList(), val: SampleList(),
                                     trainShards: try infos(train, .train), valShards: try infos(val, .val))
    }
}
