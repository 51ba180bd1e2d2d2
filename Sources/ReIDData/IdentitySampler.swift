// Samplers: which images form each global batch of an epoch, the same on every rank
// given the seed, and the slice of a batch that one rank trains on.
// IdentitySampler draws P identities x K instances (torchreid's RandomIdentitySampler:
// identities with fewer than K images are sampled with replacement; an epoch uses each
// identity's images in chunks of K until fewer than P identities have chunks left) and
// slices whole identities to ranks, so that batch-hard mining stays local.
// ShuffleSampler is a plain shuffle for identity-loss-only training.
import Tensors

public protocol BatchSampler: Sendable {
    /// Images per global batch.
    var batchSize: Int { get }
    /// The global batches of epoch `epoch`, as indices into the training records.
    func batches(epoch: Int) -> [[Int]]
    /// The part of a global batch that `rank` of `world` trains on.
    func slice(_ batch: [Int], rank: Int, world: Int) -> [Int]
    /// Checks that the batch splits over `world` ranks; the message says how to fix it.
    func validate(world: Int) throws
}

public struct IdentitySampler: BatchSampler {
    public let identities: Int
    public let instances: Int
    public let seed: UInt64
    /// Image indices of each pid, pids in ascending order.
    private let groups: [[Int]]

    /// - Parameters: pids: the pid of every training image; P identities x K instances per batch.
    public init(pids: [Int], identities p: Int, instances k: Int, seed: UInt64) throws {
        guard p >= 2, k >= 1 else {
            throw DatasetError("sampler: need at least 2 identities and 1 instance per batch, got P=\(p), K=\(k)")
        }
        var byPid: [Int: [Int]] = [:]
        for (i, pid) in pids.enumerated() { byPid[pid, default: []].append(i) }
        guard byPid.count >= p else {
            throw DatasetError("sampler: the training split has \(byPid.count) identities, fewer than P=\(p) per batch")
        }
        identities = p
        instances = k
        self.seed = seed
        groups = byPid.keys.sorted().map { byPid[$0]! }
    }

    public var batchSize: Int { identities * instances }

    public func batches(epoch: Int) -> [[Int]] {
        var rng = SeededRandom(seed: seed, keys: epoch)
        var chunks: [[[Int]]] = []
        for g in groups {
            var idx = g
            if idx.count < instances { idx = (0..<instances).map { _ in g[rng.int(g.count)] } }
            rng.shuffle(&idx)
            chunks.append(stride(from: 0, to: idx.count - instances + 1, by: instances).map {
                Array(idx[$0..<($0 + instances)])
            })
        }
        var available = Array(groups.indices)
        var next = [Int](repeating: 0, count: groups.count)
        var out: [[Int]] = []
        while available.count >= identities {
            // Draw P distinct identities (random.sample).
            var pool = available
            var chosen: [Int] = []
            for _ in 0..<identities { chosen.append(pool.remove(at: rng.int(pool.count))) }
            var batch: [Int] = []
            for g in chosen {
                batch += chunks[g][next[g]]
                next[g] += 1
            }
            available.removeAll { next[$0] >= chunks[$0].count }
            out.append(batch)
        }
        return out
    }

    /// Whole identities: rank r gets identities r P / world ..< (r + 1) P / world.
    public func slice(_ batch: [Int], rank: Int, world: Int) -> [Int] {
        let per = identities / world
        return Array(batch[(rank * per * instances)..<((rank + 1) * per * instances)])
    }

    public func validate(world: Int) throws { try Self.validate(identities: identities, world: world) }

    /// Throws unless `identities` per batch split evenly over `world` ranks (whole
    /// identities per rank).
    public static func validate(identities: Int, world: Int) throws {
        guard identities % world == 0 else {
            throw DatasetError("data.identities: \(identities) identities per batch do not split evenly over \(world) ranks; "
                               + "choose a multiple of \(world)")
        }
    }
}

public struct ShuffleSampler: BatchSampler {
    public let count: Int
    public let batchSize: Int
    public let seed: UInt64

    public init(count: Int, batchSize: Int, seed: UInt64) throws {
        guard batchSize >= 1, count >= batchSize else {
            throw DatasetError("sampler: \(count) training images cannot fill a batch of \(batchSize)")
        }
        self.count = count
        self.batchSize = batchSize
        self.seed = seed
    }

    public func batches(epoch: Int) -> [[Int]] {
        var rng = SeededRandom(seed: seed, keys: epoch)
        var order = Array(0..<count)
        rng.shuffle(&order)
        return stride(from: 0, to: count - batchSize + 1, by: batchSize).map { Array(order[$0..<($0 + batchSize)]) }
    }

    public func slice(_ batch: [Int], rank: Int, world: Int) -> [Int] {
        let per = batchSize / world
        return Array(batch[(rank * per)..<((rank + 1) * per)])
    }

    public func validate(world: Int) throws { try Self.validate(batchSize: batchSize, world: world) }

    /// Throws unless a global batch of `batchSize` splits evenly over `world` ranks.
    public static func validate(batchSize: Int, world: Int) throws {
        guard batchSize % world == 0 else {
            throw DatasetError("sampler: batch size \(batchSize) does not split evenly over \(world) ranks")
        }
    }
}
