// ValidationReader: this rank's slice of a classification data set's validation split,
// in batches with labels, for top-1/top-5 counts that are summed across ranks. Folder
// layouts: rank r reads the contiguous slice [r*N/world, (r+1)*N/world) of the sorted list;
// shards: rank r reads val shards r, r+world, ... Together the ranks read every image once.
// Evaluation transform: full decode, Resize(resize), CenterCrop(size), normalize.
import Foundation
import Tensors

public final class ValidationReader: @unchecked Sendable {
    public let dataset: ClassificationDataset
    public let transform: ClassificationTransform
    /// Images per batch on this rank (the last batch may be smaller).
    public let batchSize: Int
    public let rank: Int
    public let world: Int
    public let maxImagePixels: Int
    /// Threads decoding the next batch while the current one is evaluated.
    public let workers: Int
    /// Images in the whole validation split (all ranks).
    public let totalCount: Int
    /// Images this rank reads.
    public let localCount: Int
    /// Folder layouts: this rank's slice of `dataset.val`; shards: this rank's shards.
    let slice: Range<Int>
    let shards: [ShardInfo]

    public init(dataset: ClassificationDataset, transform: ClassificationTransform, batchSize: Int, rank: Int = 0,
                world: Int = 1, maxImagePixels: Int = ImageCodec.defaultMaxImagePixels, workers: Int = 2) throws {
        try transform.validate()
        guard batchSize >= 1 else { throw DatasetError("evaluation batch size must be at least 1, got \(batchSize)") }
        totalCount = dataset.count(.val)
        guard totalCount > 0 else { throw DatasetError("\(dataset.root): the validation split is empty") }
        (self.dataset, self.transform, self.batchSize, self.rank, self.world) = (dataset, transform, batchSize, rank, world)
        self.maxImagePixels = maxImagePixels
        self.workers = max(1, workers)
        if dataset.isSharded {
            shards = stride(from: rank, to: dataset.valShards.count, by: world).map { dataset.valShards[$0] }
            slice = 0..<0
            localCount = shards.reduce(0) { $0 + $1.nsamples }
        } else {
            let n = dataset.val.count
            slice = (rank * n / world)..<((rank + 1) * n / world)
            shards = []
            localCount = slice.count
        }
    }

    /// Batches this rank yields.
    public var batchCount: Int { (localCount + batchSize - 1) / batchSize }

    /// Calls `body` with each batch in order: images (n, size, size, 3) normalized, pids
    /// the class indices, camids 0. The next batch is decoded while `body` runs.
    public func forEach(_ body: (Batch) throws -> Void) throws {
        guard batchCount > 0 else { return }
        var readers = shards.makeIterator()
        var reader: TarShardReader?
        var readCount = 0
        var current: ShardInfo?
        // Reads the next batch's bytes in order (sequential for shards).
        func gather() throws -> [(bytes: Data?, name: String, label: Int)] {
            var items: [(bytes: Data?, name: String, label: Int)] = []
            if dataset.isSharded {
                while items.count < batchSize {
                    if reader == nil {
                        guard let next = readers.next() else { break }
                        reader = try TarShardReader(path: next.url, classes: dataset.numClasses)
                        current = next
                        readCount = 0
                    }
                    if let s = try reader!.next() {
                        readCount += 1
                        items.append((s.bytes, "\(current!.url): \(s.member)", s.label))
                    } else {
                        guard readCount == current!.nsamples else {
                            throw DatasetError("\(current!.url): holds \(readCount) samples, but the shard index says "
                                               + "\(current!.nsamples); write the shards again or remove \(ShardIndex.indexFile)")
                        }
                        reader = nil
                    }
                }
            } else {
                let done = readCount
                for i in (slice.lowerBound + done)..<min(slice.upperBound, slice.lowerBound + done + batchSize) {
                    items.append((nil, dataset.val[i].path, dataset.val[i].label))
                }
                readCount += items.count
            }
            return items
        }
        let transform = self.transform, limit = maxImagePixels, workers = self.workers
        @Sendable func build(_ items: [(bytes: Data?, name: String, label: Int)]) throws -> Batch {
            let n = transform.size
            let images = Tensor(shape: [items.count, n, n, 3], layout: .nhwc)
            nonisolated(unsafe) let out = images.data
            let lock = NSLock()
            nonisolated(unsafe) var failure: Error?
            let threads = min(workers, items.count)
            DispatchQueue.concurrentPerform(iterations: threads) { w in
                let decoder = ClassificationDecoder(transform: transform, maxImagePixels: limit)
                for j in stride(from: w, to: items.count, by: threads) {
                    do {
                        let item = items[j]
                        let bytes: Data
                        if let b = item.bytes {
                            bytes = b
                        } else {
                            do {
                                bytes = try Data(contentsOf: URL(fileURLWithPath: item.name))
                            } catch {
                                throw ImageError("\(item.name): cannot read: \(FileProblem.reason(error))")
                            }
                        }
                        transform.normalize(try decoder.evaluation(bytes, name: item.name), flip: false,
                                            into: out + j * n * n * 3)
                    } catch {
                        lock.lock()
                        if failure == nil { failure = error }
                        lock.unlock()
                        return
                    }
                }
            }
            if let failure { throw failure }
            return Batch(images: images, pids: items.map(\.label), camids: [Int](repeating: 0, count: items.count))
        }
        var pending = try build(try gather())
        var served = 0
        while true {
            let current = pending
            served += current.count
            let more = served < localCount
            nonisolated(unsafe) var nextResult: Result<Batch, Error>?
            let group = DispatchGroup()
            if more {
                let items = try gather()
                guard !items.isEmpty else {
                    throw DatasetError("\(dataset.root): the validation split ended after \(served) of \(localCount) images")
                }
                DispatchQueue.global().async(group: group) { nextResult = Result { try build(items) } }
            }
            try body(current)
            group.wait()
            guard more, let nextResult else { return }
            pending = try nextResult.get()
        }
    }
}
