// DataLoader ordering: with 2 or 3 worker threads (and short or long prefetch) it serves
// exactly the batches one worker serves, bit for bit and in the same order, over two
// epochs, when resuming at a batch inside an epoch (also while the abandoned epoch's
// batches are still being decoded), and through the epoch-crossing batch supplier; an
// identity sampler's epochs differ in length and the loader reports each one's.
import Foundation
import ReIDData
import XCTest

final class DataLoaderTests: XCTestCase {
    var root: URL!
    var records: [ImageRecord] = []
    var labelMap: [Int: Int] = [:]

    /// A served batch as plain values: image floats as bit patterns, labels and cameras.
    struct Served: Equatable {
        let shape: [Int]
        let bits: [UInt32]
        let labels: [Int]
        let camids: [Int]

        init(_ b: Batch) {
            shape = b.images.shape
            bits = b.images.toArray().map(\.bitPattern)
            labels = b.pids
            camids = b.camids
        }
    }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-loader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        // 10 identities with 3 to 6 images each over 3 cameras; every image differs from
        // every other (a per-image gradient and colour), so a swapped image shows.
        let codec = ImageCodec()
        for id in 0..<10 {
            for n in 0..<(3 + id % 4) {
                let seed = id * 16 + n
                var pixels = [UInt8](repeating: 0, count: 20 * 10 * 3)
                for y in 0..<20 {
                    for x in 0..<10 {
                        let p = (y * 10 + x) * 3
                        pixels[p] = UInt8((seed * 7 + x * 11) % 256)
                        pixels[p + 1] = UInt8((seed * 13 + y * 9) % 256)
                        pixels[p + 2] = UInt8((seed * 29 + x * y) % 256)
                    }
                }
                let url = root.appendingPathComponent(String(format: "%04d_c%d_%02d.jpg", 100 + id, n % 3 + 1, n))
                try codec.encodeJPEG(RGBImage(width: 10, height: 20, pixels: pixels), quality: 95).write(to: url)
                records.append(ImageRecord(path: url.path, pid: 100 + id, camid: n % 3))
            }
        }
        labelMap = Dictionary(uniqueKeysWithValues: (0..<10).map { (100 + $0, $0) })
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// A loader with every random augmentation on, so each image's result depends on its
    /// (epoch, position) key.
    func loader(workers: Int, prefetch: Int) throws -> DataLoader {
        let sampler = try IdentitySampler(pids: records.map(\.pid), identities: 4, instances: 2, seed: 11)
        var augment = AugmentConfig()
        augment.height = 32
        augment.width = 16
        augment.padding = 2
        augment.brightness = 0.2
        augment.contrast = 0.2
        augment.saturation = 0.2
        var options = LoaderOptions()
        options.workers = workers
        options.prefetch = prefetch
        options.seed = 5
        return try DataLoader(records: records, labelMap: labelMap, sampler: sampler, augment: augment, options: options)
    }

    /// Epochs 0 and 1 in full, epoch 1 again from batch 2, and epoch 1 from batch 1 right
    /// after one batch of epoch 0 was taken (the rest of epoch 0 still in flight).
    func run(_ l: DataLoader) throws -> [[Served]] {
        let perEpoch = l.batchesPerEpoch
        XCTAssertEqual(l.batches(inEpoch: 1), perEpoch, "this data set's epochs 0 and 1 are equally long")
        var runs: [[Served]] = []
        for e in 0..<2 {
            l.startEpoch(e)
            runs.append(try (0..<perEpoch).map { _ in Served(try l.next()) })
        }
        l.startEpoch(1, at: 2)
        runs.append(try (2..<perEpoch).map { _ in Served(try l.next()) })
        l.startEpoch(0)
        _ = try l.next()
        l.startEpoch(1, at: 1)
        runs.append(try (1..<perEpoch).map { _ in Served(try l.next()) })
        return runs
    }

    func testEpochLengthsFollowTheSampler() throws {
        let sampler = try IdentitySampler(pids: records.map(\.pid), identities: 4, instances: 2, seed: 11)
        let l = try loader(workers: 2, prefetch: 2)
        defer { l.shutdown() }
        let counts = (0..<30).map { sampler.batches(epoch: $0).count }
        XCTAssertGreaterThan(Set(counts).count, 1, "uneven identities give epochs of different lengths: \(counts)")
        for e in 0..<30 { XCTAssertEqual(l.batches(inEpoch: e), counts[e], "epoch \(e)") }
        // Each epoch serves exactly its own count, also the ones shorter than epoch 0.
        for e in counts.indices where counts[e] != counts[0] {
            l.startEpoch(e)
            XCTAssertEqual(l.batches(inEpoch: e), counts[e])
            for _ in 0..<counts[e] { _ = try l.next() }
        }
        // The epoch-crossing supplier crosses into epochs of other lengths.
        let next = l.pass(fromEpoch: 0)
        for _ in 0..<counts.prefix(4).reduce(0, +) { _ = try next() }
    }

    func testWorkersServeTheBatchesOneWorkerServesInOrder() throws {
        let single = try loader(workers: 1, prefetch: 3)
        defer { single.shutdown() }
        let perEpoch = single.batchesPerEpoch
        XCTAssertGreaterThanOrEqual(perEpoch, 4, "enough batches per epoch to resume inside one")
        let reference = try run(single)
        XCTAssertEqual(reference.map(\.count), [perEpoch, perEpoch, perEpoch - 2, perEpoch - 1])
        XCTAssertNotEqual(reference[0], reference[1], "epochs differ")
        XCTAssertEqual(Array(reference[1][2...]), reference[2], "resuming at batch 2 gives the rest of the epoch")
        XCTAssertEqual(Array(reference[1][1...]), reference[3], "an abandoned epoch's batches never leak")
        XCTAssertEqual(Set(reference[0].map(\.bits)).count, perEpoch, "batches within an epoch differ")

        for (workers, prefetch) in [(2, 3), (3, 3), (2, 1), (3, 8)] {
            let l = try loader(workers: workers, prefetch: prefetch)
            defer { l.shutdown() }
            let runs = try run(l)
            XCTAssertEqual(runs.map(\.count), reference.map(\.count))
            for (r, (ours, theirs)) in zip(runs, reference).enumerated() {
                for (b, (a, x)) in zip(ours, theirs).enumerated() {
                    XCTAssertEqual(a.shape, x.shape, "\(workers) workers, prefetch \(prefetch): run \(r) batch \(b)")
                    XCTAssertEqual(a.labels, x.labels, "\(workers) workers, prefetch \(prefetch): run \(r) batch \(b)")
                    XCTAssertEqual(a.camids, x.camids, "\(workers) workers, prefetch \(prefetch): run \(r) batch \(b)")
                    XCTAssertTrue(a.bits == x.bits,
                                  "\(workers) workers, prefetch \(prefetch): run \(r) batch \(b) images differ")
                }
            }
        }
    }

    func testBatchSupplierCrossesEpochsInOrder() throws {
        let single = try loader(workers: 1, prefetch: 3)
        defer { single.shutdown() }
        let perEpoch = single.batchesPerEpoch
        var expected: [Served] = []
        for e in 3..<5 {
            single.startEpoch(e)
            expected += try (0..<perEpoch).map { _ in Served(try single.next()) }
        }
        let l = try loader(workers: 3, prefetch: 2)
        defer { l.shutdown() }
        let next = l.pass(fromEpoch: 3)
        let served = try (0..<(2 * perEpoch)).map { _ in Served(try next()) }
        XCTAssertTrue(served == expected, "3 workers through pass(fromEpoch:) differ from 1 worker")
    }
}
