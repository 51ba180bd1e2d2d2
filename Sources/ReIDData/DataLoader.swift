// DataLoader: turns a sampler's batches into decoded, augmented batch tensors on
// background threads, a few batches ahead of the trainer. Each image's augmentation is
// seeded from (seed, epoch, position), so results do not depend on thread timing. It
// records how long the trainer waited, so that a starved trainer shows.
import Foundation
import Tensors

public struct LoaderOptions: Sendable {
    /// Background threads decoding and augmenting.
    public var workers = 2
    /// Batches prepared ahead of the trainer.
    public var prefetch = 3
    /// Replace an unreadable image by another of the same identity (with a warning and a
    /// count) instead of failing.
    public var skipCorrupt = false
    /// Images whose header claims more pixels are refused before decoding (an error, or
    /// skipped with `skipCorrupt`).
    public var maxImagePixels = ImageCodec.defaultMaxImagePixels
    public var seed: UInt64 = 1
    public init() {}
}

public final class DataLoader: BatchSource, @unchecked Sendable {
    public let records: [ImageRecord]
    public let labels: [Int]
    public let numClasses: Int
    public let sampler: BatchSampler
    public let augment: AugmentConfig
    public let options: LoaderOptions
    public let rank: Int
    public let world: Int

    private let condition = NSCondition()
    private var epoch = -1
    private var plan: [[Int]] = []
    /// Assembled batches by index, each with the number of images it replaced.
    private var ready: [Int: (batch: Result<Batch, Error>, replaced: Int)] = [:]
    private var nextToProduce = 0
    private var nextToConsume = 0
    private var generation = 0
    private var stopped = false
    private var threads: [Thread] = []
    private var byPid: [Int: [Int]] = [:]

    /// Seconds the trainer spent waiting in `next()`, and batches served.
    public private(set) var waitSeconds = 0.0
    public private(set) var batchesServed = 0
    /// Images that could not be decoded and were replaced (with `skipCorrupt`), in the
    /// batches served.
    private var replaced = 0
    public var replacedImages: Int {
        condition.lock()
        defer { condition.unlock() }
        return replaced
    }

    /// - Parameters: records: the training split; labelMap: pid -> classifier label.
    public init(records: [ImageRecord], labelMap: [Int: Int], sampler: BatchSampler, augment: AugmentConfig,
                options: LoaderOptions = LoaderOptions(), rank: Int = 0, world: Int = 1) throws {
        try sampler.validate(world: world)
        try augment.validate()
        guard options.maxImagePixels >= 1 else {
            throw DatasetError("data.max_image_pixels: must be at least 1, got \(options.maxImagePixels)")
        }
        self.records = records
        labels = try records.map { r in
            guard let l = labelMap[r.pid] else { throw DatasetError("\(r.path): pid \(r.pid) has no label") }
            return l
        }
        numClasses = Set(labelMap.values).count
        self.sampler = sampler
        self.augment = augment
        self.options = options
        self.rank = rank
        self.world = world
        for (i, r) in records.enumerated() { byPid[r.pid, default: []].append(i) }
        for w in 0..<max(1, options.workers) {
            // Weak: a thread that starts after its loader is gone (released right after
            // shutdown, on a busy machine) finds nil and ends, instead of crashing.
            let t = Thread { [weak self] in self?.work() }
            t.name = "reidprune-loader-\(w)"
            threads.append(t)
            t.start()
        }
    }

    deinit {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the worker threads (they also stop when the loader is released).
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    public var batchesPerEpoch: Int { batches(inEpoch: 0) }

    public func batches(inEpoch e: Int) -> Int {
        condition.lock()
        let current = e == epoch ? plan.count : nil
        condition.unlock()
        return current ?? sampler.batches(epoch: e).count
    }

    public func startEpoch(_ e: Int) { startEpoch(e, at: 0) }

    public func startEpoch(_ e: Int, at first: Int) {
        let batches = sampler.batches(epoch: e).map { sampler.slice($0, rank: rank, world: world) }
        condition.lock()
        epoch = e
        plan = batches
        ready.removeAll()
        nextToProduce = min(first, batches.count)
        nextToConsume = min(first, batches.count)
        generation += 1
        condition.broadcast()
        condition.unlock()
    }

    public func next() throws -> Batch {
        condition.lock()
        defer { condition.unlock() }
        precondition(epoch >= 0, "DataLoader.next before startEpoch")
        precondition(nextToConsume < plan.count, "DataLoader.next past the end of epoch \(epoch)")
        let start = DispatchTime.now().uptimeNanoseconds
        while ready[nextToConsume] == nil { condition.wait() }
        waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let result = ready.removeValue(forKey: nextToConsume)!
        nextToConsume += 1
        batchesServed += 1
        replaced += result.replaced
        condition.broadcast()
        return try result.batch.get()
    }

    private func work() {
        let codec = ImageCodec(maxImagePixels: options.maxImagePixels)
        while true {
            condition.lock()
            while !stopped && (epoch < 0 || nextToProduce >= plan.count || nextToProduce - nextToConsume >= options.prefetch) {
                condition.wait()
            }
            if stopped { condition.unlock(); return }
            let index = nextToProduce
            nextToProduce += 1
            let indices = plan[index], e = epoch, gen = generation
            condition.unlock()
            var replacedHere = 0
            let result = Result { try self.assemble(indices, epoch: e, batchIndex: index, codec: codec, replaced: &replacedHere) }
            condition.lock()
            if gen == generation { ready[index] = (result, replacedHere) }
            condition.broadcast()
            condition.unlock()
        }
    }

    private func assemble(_ indices: [Int], epoch: Int, batchIndex: Int, codec: ImageCodec,
                          replaced: inout Int) throws -> Batch {
        let (h, w) = (augment.height, augment.width)
        let images = Tensor(shape: [indices.count, h, w, 3], layout: .nhwc)
        for (j, i) in indices.enumerated() {
            let image = try decode(i, codec: codec, replaced: &replaced)
            // Keyed by the image's position in the global batch, so that any number of ranks
            // augments the global batch exactly as one rank would.
            let position = batchIndex * sampler.batchSize + rank * indices.count + j
            var rng = SeededRandom(seed: options.seed, keys: epoch, position)
            Augmentation.apply(image, config: augment, rng: &rng, into: images.data + j * h * w * 3)
        }
        return Batch(images: images, pids: indices.map { labels[$0] }, camids: indices.map { records[$0].camid })
    }

    /// Decodes record `i`; with `skipCorrupt`, falls back to the identity's other images.
    private func decode(_ i: Int, codec: ImageCodec, replaced: inout Int) throws -> RGBImage {
        do {
            return try codec.decode(path: records[i].path)
        } catch {
            guard options.skipCorrupt else { throw error }
            replaced += 1
            FileHandle.standardError.write(Data("warning: skipping \(error)\n".utf8))
            for j in byPid[records[i].pid]! where j != i {
                if let image = try? codec.decode(path: records[j].path) { return image }
            }
            throw DatasetError("\(records[i].path): unreadable, and no other image of pid \(records[i].pid) is readable")
        }
    }
}

/// Reads a split in order for evaluation (test-time transforms), in batches, with the
/// decoding of the next batch overlapping the model's work on the current one.
public final class SplitLoader: @unchecked Sendable {
    public let records: [ImageRecord]
    public let augment: AugmentConfig
    public let batchSize: Int
    /// Images whose header claims more pixels are refused before decoding.
    public let maxImagePixels: Int

    public init(records: [ImageRecord], augment: AugmentConfig, batchSize: Int,
                maxImagePixels: Int = ImageCodec.defaultMaxImagePixels) {
        self.records = records
        self.augment = augment.forTesting
        self.batchSize = batchSize
        self.maxImagePixels = maxImagePixels
    }

    public var batchCount: Int { (records.count + batchSize - 1) / batchSize }

    /// Calls `body` with each batch in order (pids and camids as the data set gives them).
    public func forEach(_ body: (Batch) throws -> Void) throws {
        let (h, w) = (augment.height, augment.width)
        let records = self.records, augment = self.augment, batchSize = self.batchSize, limit = maxImagePixels
        @Sendable func load(_ b: Int) throws -> Batch {
            let codec = ImageCodec(maxImagePixels: limit)
            let part = Array(records[(b * batchSize)..<min(records.count, (b + 1) * batchSize)])
            let images = Tensor(shape: [part.count, h, w, 3], layout: .nhwc)
            var rng = SeededRandom(seed: 0)  // test-time transforms draw nothing
            for (j, r) in part.enumerated() {
                Augmentation.apply(try codec.decode(path: r.path), config: augment, rng: &rng,
                                   into: images.data + j * h * w * 3)
            }
            return Batch(images: images, pids: part.map(\.pid), camids: part.map(\.camid))
        }
        guard batchCount > 0 else { return }
        var pending = try load(0)
        for b in 0..<batchCount {
            let current = pending
            nonisolated(unsafe) var nextResult: Result<Batch, Error>?
            let group = DispatchGroup()
            if b + 1 < batchCount {
                DispatchQueue.global().async(group: group) { nextResult = Result { try load(b + 1) } }
            }
            try body(current)
            group.wait()
            if let nextResult { pending = try nextResult.get() }
        }
    }
}
