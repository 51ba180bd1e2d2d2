// ShardStream: one rank's training stream over tar shards for one epoch. The shards are
// shuffled with the epoch's seed (the same order on every rank) and dealt round-robin to
// the ranks; a rank reads its shards in turn (again, freshly shuffled, when it runs out
// before the epoch's last step), then a shuffle buffer of fixed size mixes the samples.
// Memory: the buffer's samples, whatever the data set's size. A stream can be moved to any
// output position without decoding and reading only the bytes still buffered there.
import Foundation
import Tensors

final class ShardStream {
    let shards: [ShardInfo]
    let rank: Int
    let world: Int
    let seed: UInt64
    let epoch: Int
    let bufferSize: Int

    private var pass = 0
    private var order: [Int] = []
    private var cursor = 0
    private var reader: TarShardReader?
    private var readerCount = 0
    private var buffer: [ShardSample] = []
    private var rng: SeededRandom
    /// Samples taken from the shards so far (the raw stream's position).
    private var consumed = 0

    /// Key purposes of the stream's random draws.
    static let shardOrderKey = 0x5348_4F52, bufferKey = 0x5342_5546

    /// The data set's class count: every sample's class index must be below it.
    private let classes: Int?

    init(shards: [ShardInfo], rank: Int, world: Int, seed: UInt64, epoch: Int, bufferSize: Int, classes: Int? = nil) throws {
        self.classes = classes
        precondition(rank >= 0 && rank < world)
        guard shards.count >= world else {
            throw DatasetError("\(shards.first?.url ?? "shards"): \(shards.count) training shards for \(world) ranks; "
                               + "every rank reads its own shards, so write at least \(world) (reidprune shards --images-per-shard)")
        }
        (self.shards, self.rank, self.world, self.seed, self.epoch) = (shards, rank, world, seed, epoch)
        self.bufferSize = max(1, bufferSize)
        rng = SeededRandom(seed: seed, keys: Self.bufferKey, epoch, rank)
        order = Self.rankShards(count: shards.count, rank: rank, world: world, seed: seed, epoch: epoch, pass: 0)
        guard order.contains(where: { shards[$0].nsamples > 0 }) else {
            throw DatasetError("rank \(rank): its shards (\(order.map { shards[$0].url }.joined(separator: ", "))) hold no samples")
        }
    }

    /// The shard indices rank `rank` reads in `pass` of `epoch`: pass 0 deals the epoch's
    /// shuffled order round-robin; later passes reshuffle the rank's own shards.
    static func rankShards(count: Int, rank: Int, world: Int, seed: UInt64, epoch: Int, pass: Int) -> [Int] {
        var all = Array(0..<count)
        var r = SeededRandom(seed: seed, keys: shardOrderKey, epoch)
        r.shuffle(&all)
        var mine = stride(from: rank, to: count, by: world).map { all[$0] }
        if pass > 0 {
            var p = SeededRandom(seed: seed, keys: shardOrderKey, epoch, rank, pass)
            p.shuffle(&mine)
        }
        return mine
    }

    /// The next sample of the raw (unshuffled) stream; `withData: false` skips its bytes.
    private func nextRaw(withData: Bool) throws -> ShardSample {
        while true {
            if reader == nil {
                if cursor == order.count {
                    pass += 1
                    cursor = 0
                    order = Self.rankShards(count: shards.count, rank: rank, world: world, seed: seed, epoch: epoch, pass: pass)
                }
                reader = try TarShardReader(path: shards[order[cursor]].url, classes: classes)
                readerCount = 0
            }
            if let s = try reader!.next(withData: withData) {
                readerCount += 1
                consumed += 1
                return s
            }
            let info = shards[order[cursor]]
            guard readerCount == info.nsamples else {
                throw DatasetError("\(info.url): holds \(readerCount) samples, but the shard index says \(info.nsamples); "
                                   + "write the shards again or remove \(ShardIndex.indexFile)")
            }
            reader = nil
            cursor += 1
        }
    }

    /// Removes and returns a random element of `items` (swap with the last).
    static func take<T>(_ items: inout [T], _ rng: inout SeededRandom) -> T {
        let j = rng.int(items.count)
        items.swapAt(j, items.count - 1)
        return items.removeLast()
    }

    /// The next sample of the shuffled stream.
    func next() throws -> ShardSample {
        while buffer.count < bufferSize { buffer.append(try nextRaw(withData: true)) }
        return Self.take(&buffer, &rng)
    }

    /// Moves a fresh stream past its first `n` outputs, as if `next()` had been called `n`
    /// times: the buffer is simulated by stream positions first, then the raw stream is read
    /// up to the same position keeping only the bytes of the samples still buffered there.
    func skip(_ n: Int) throws {
        precondition(consumed == 0 && buffer.isEmpty, "ShardStream.skip on a stream already read")
        guard n > 0 else { return }
        var sim: [Int] = []
        var position = 0
        var simRng = rng
        for _ in 0..<n {
            while sim.count < bufferSize { sim.append(position); position += 1 }
            _ = Self.take(&sim, &simRng)
        }
        let keep = Set(sim)
        var kept: [Int: ShardSample] = [:]
        for p in 0..<position {
            let s = try nextRaw(withData: keep.contains(p))
            if keep.contains(p) { kept[p] = s }
        }
        buffer = sim.map { kept[$0]! }
        rng = simRng
    }
}
