// ClassificationSource: the training batches of a classification data set for one rank.
// Folder layouts: a global seeded sampler — every rank draws the same permutation of the
// whole split each epoch and takes its slice of every global batch, and each image's
// augmentation is keyed by its position in the global batch, so N ranks see exactly the
// global batches of 1 rank. Shards: each rank streams its own shards (ShardStream); every
// rank takes floor(images / global batch) steps an epoch.
import Foundation
import Tensors

public struct ClassificationLoaderOptions: Sendable {
    /// Images per step over all ranks; a multiple of the rank count.
    public var globalBatch = 256
    /// Background threads decoding and augmenting, and batches prepared ahead.
    public var workers = 2
    public var prefetch = 3
    /// Shards: samples held by the shuffle buffer of each rank.
    public var shuffleBuffer = 1000
    public var seed: UInt64 = 1
    public var maxImagePixels = ImageCodec.defaultMaxImagePixels
    public var transform = ClassificationTransform()
    public init() {}
}

public final class ClassificationSource: BatchSource, @unchecked Sendable {
    public let dataset: ClassificationDataset
    public let options: ClassificationLoaderOptions
    public let rank: Int
    public let world: Int
    /// Images per step on this rank: globalBatch / world.
    public let localBatch: Int
    public let batchesPerEpoch: Int

    public var numClasses: Int { dataset.numClasses }
    public var classNames: [String] { dataset.classNames }
    /// True with shards: each rank's stream depends on the rank count, so a run may not
    /// resume on another; with the global sampler the batches do not depend on it.
    public var perRankStream: Bool { dataset.isSharded }
    /// Seconds this rank waited for its batches.
    public var waitSeconds: Double { prefetcher.waitSeconds }

    private let prefetcher: BatchPrefetcher
    private var stream: ShardStream?
    private var permutation: [Int32] = []
    private var epoch = -1
    private let lock = NSLock()
    private var decoders: [ObjectIdentifier: ClassificationDecoder] = [:]

    /// Key purposes of the random draws.
    static let permutationKey = 0x5045_524D, augmentKey = 0x4155_474D

    /// Throws unless a sharded `dataset` has a training shard for each of `world` ranks.
    public static func validate(shards dataset: ClassificationDataset, world: Int) throws {
        if dataset.isSharded && dataset.trainShards.count < world {
            throw DatasetError("\(dataset.root): \(dataset.trainShards.count) training shards for \(world) ranks; every rank "
                               + "reads its own shards, so write at least \(world)")
        }
    }

    /// Throws unless a global batch of `globalBatch` images splits evenly over `world` ranks.
    public static func validate(globalBatch: Int, world: Int) throws {
        guard globalBatch >= 1, globalBatch % world == 0 else {
            throw DatasetError("data.batch_size: the global batch \(globalBatch) must be a positive multiple of "
                               + "the rank count \(world)")
        }
    }

    /// - Parameters: dataset: opened with its train split; rank, world: this rank and the rank count.
    public init(dataset: ClassificationDataset, options: ClassificationLoaderOptions, rank: Int = 0, world: Int = 1) throws {
        try options.transform.validate()
        try Self.validate(globalBatch: options.globalBatch, world: world)
        guard options.shuffleBuffer >= 1 else {
            throw DatasetError("data.shuffle_buffer: must be at least 1, got \(options.shuffleBuffer)")
        }
        let images = dataset.count(.train)
        guard images >= options.globalBatch else {
            throw DatasetError("\(dataset.root): \(images) training images, fewer than one global batch of \(options.globalBatch)")
        }
        try Self.validate(shards: dataset, world: world)
        self.dataset = dataset
        self.options = options
        self.rank = rank
        self.world = world
        localBatch = options.globalBatch / world
        batchesPerEpoch = images / options.globalBatch
        prefetcher = BatchPrefetcher(workers: options.workers, prefetch: options.prefetch, name: "reidprune-classification")
    }

    deinit { prefetcher.shutdown() }

    /// Stops the worker threads (they also stop when the source is released).
    public func shutdown() { prefetcher.shutdown() }

    public func startEpoch(_ e: Int) { startEpoch(e, at: 0) }

    /// Starts epoch `e` at batch `first`. With shards, moving to `first` reads the shard
    /// headers up to there (no decoding); an unreadable shard shows in the next `next()`.
    public func startEpoch(_ e: Int, at first: Int) {
        epoch = e
        var failure: Error?
        // Weak: the prefetcher keeps the plan; a released source ends its workers.
        prefetcher.start(count: batchesPerEpoch, first: first, plan: { [weak self] index in
            if let failure { throw failure }
            guard let self else { throw DatasetError("the training data source was released") }
            return try self.plan(index, epoch: e)
        }, reset: {
            if dataset.isSharded {
                do {
                    let s = try ShardStream(shards: dataset.trainShards, rank: rank, world: world, seed: options.seed,
                                            epoch: e, bufferSize: options.shuffleBuffer, classes: dataset.numClasses)
                    try s.skip(min(first, batchesPerEpoch) * localBatch)
                    stream = s
                } catch {
                    failure = error
                }
            } else {
                permutation = Self.permutation(count: dataset.train.count, seed: options.seed, epoch: e)
            }
        })
    }

    public func next() throws -> Batch { try prefetcher.next() }

    /// The global sampler's order of the split in `epoch`: the same on every rank.
    static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var p = (0..<Int32(count)).map { $0 }
        var rng = SeededRandom(seed: seed, keys: permutationKey, epoch)
        rng.shuffle(&p)
        return p
    }

    /// Plans batch `index` (in order, under the prefetcher's lock): the images' sources and
    /// augmentation keys; returns the work that decodes and augments them.
    private func plan(_ index: Int, epoch e: Int) throws -> () throws -> Batch {
        var items: [(bytes: Data?, path: String, label: Int, key: [Int])] = []
        if let stream, dataset.isSharded {
            for j in 0..<localBatch {
                let s = try stream.next()
                let name = "\(s.shard): \(s.member)"
                items.append((s.bytes, name, s.label, [Self.augmentKey, e, rank, index * localBatch + j]))
            }
        } else {
            let start = index * options.globalBatch + rank * localBatch
            for j in 0..<localBatch {
                let sample = dataset.train[Int(permutation[start + j])]
                items.append((nil, sample.path, sample.label, [Self.augmentKey, e, start + j]))
            }
        }
        // Strong: a batch being built keeps the source (and its decoders) alive until done.
        return { [self] in try self.build(items) }
    }

    private func decoder() -> ClassificationDecoder {
        let id = ObjectIdentifier(Thread.current)
        lock.lock()
        defer { lock.unlock() }
        if let d = decoders[id] { return d }
        let d = ClassificationDecoder(transform: options.transform, maxImagePixels: options.maxImagePixels)
        decoders[id] = d
        return d
    }

    /// images: (N, size, size, 3) normalized; pids: class indices; camids: 0.
    private func build(_ items: [(bytes: Data?, path: String, label: Int, key: [Int])]) throws -> Batch {
        let n = options.transform.size
        let images = Tensor(shape: [items.count, n, n, 3], layout: .nhwc)
        let decoder = decoder()
        for (j, item) in items.enumerated() {
            let bytes: Data
            if let b = item.bytes {
                bytes = b
            } else {
                do {
                    bytes = try Data(contentsOf: URL(fileURLWithPath: item.path))
                } catch {
                    throw ImageError("\(item.path): cannot read: \(FileProblem.reason(error))")
                }
            }
            var rng = SeededRandom(seed: options.seed, keys: item.key)
            try decoder.training(bytes, name: item.path, rng: &rng, into: images.data + j * n * n * 3)
        }
        return Batch(images: images, pids: items.map(\.label), camids: [Int](repeating: 0, count: items.count))
    }
}
