// Inference on micro-batches: which blocks run on them and how the batch is cut
// (`InferenceSchedule`), and that a network run that way gives the features of the
// whole batch run at once, in fp32 and (where the CPU has it) bf16.
import NN
import Tensors
import TestSupport
import XCTest

final class InferenceScheduleTests: XCTestCase {
    private let mib = 1 << 20

    /// ResNet-50 at 256x128: layer1 writes 2 MiB per float32 image, layer2 1 MiB, layer3
    /// 0.5 MiB; the stem's output is 2 MiB.
    func testResNet50BlocksWhoseWholeBatchOutputsExceedTheCacheRunOnMicroBatches() {
        let arch = ResNetArchitecture.resnet(.resnet50)
        let fp32 = InferenceSchedule(architecture: arch, batch: 32, height: 256, width: 128, cacheBytes: 32 * mib,
                                     microBatch: nil)
        // layer1 (67 MB) and layer2 (32 MiB, the cache's size) at batch 32; 4 images of
        // 2 MiB fill a quarter of the cache.
        XCTAssertEqual(fp32, InferenceSchedule(chunks: Array(repeating: 4, count: 8), earlyBlocks: 3 + 4))
        // bf16 halves every activation: layer1 only, 8 images per micro-batch.
        let bf16 = InferenceSchedule(architecture: arch, batch: 32, height: 256, width: 128, valueBytes: 2,
                                     cacheBytes: 32 * mib, microBatch: nil)
        XCTAssertEqual(bf16, InferenceSchedule(chunks: [8, 8, 8, 8], earlyBlocks: 3))
        // An uneven batch is cut into the fewest micro-batches, sizes differing by one.
        // At batch 30 layer2's output (30 MiB) fits.
        let uneven = InferenceSchedule(architecture: arch, batch: 30, height: 256, width: 128, cacheBytes: 32 * mib,
                                       microBatch: nil)
        XCTAssertEqual(uneven, InferenceSchedule(chunks: [4, 4, 4, 4, 4, 4, 3, 3], earlyBlocks: 3))
        // Small batches fit the cache whole; so does everything with a large enough cache.
        for (batch, cache) in [(1, 32 * mib), (4, 32 * mib), (32, 512 * mib)] {
            XCTAssertEqual(InferenceSchedule(architecture: arch, batch: batch, height: 256, width: 128, cacheBytes: cache,
                                             microBatch: nil), .whole(batch), "batch \(batch), cache \(cache)")
        }
        // A last stride of 1 changes only layer4, which stays whole.
        let ls1 = InferenceSchedule(architecture: .resnet(.resnet50, lastStride: 1), batch: 32, height: 256, width: 128,
                                    cacheBytes: 32 * mib, microBatch: nil)
        XCTAssertEqual(ls1, fp32)
        // The override: a size, or 0 for never.
        XCTAssertEqual(InferenceSchedule(architecture: arch, batch: 32, height: 256, width: 128, cacheBytes: 32 * mib,
                                         microBatch: 16), InferenceSchedule(chunks: [16, 16], earlyBlocks: 7))
        XCTAssertEqual(InferenceSchedule(architecture: arch, batch: 32, height: 256, width: 128, cacheBytes: 32 * mib,
                                         microBatch: 0), .whole(32))
        // A tiny cache: one image at a time, as far as layer3.
        let tiny = InferenceSchedule(architecture: arch, batch: 3, height: 256, width: 128, cacheBytes: mib,
                                     microBatch: nil)
        XCTAssertEqual(tiny, InferenceSchedule(chunks: [1, 1, 1], earlyBlocks: 3 + 4 + 6))
    }

    /// The same network and images: features with the cache set so that layer1 runs on
    /// micro-batches of 3, 3, 3, 3, 2 and 2 images, and with the whole batch at once, twice
    /// each (weights packed for two micro-batch sizes and the whole batch in turn).
    /// layer1.0's downsample writes each micro-batch's rows of the whole batch's tensor.
    func testMicroBatchedInferenceGivesTheWholeBatchFeatures() throws {
        // layer1 writes 16x8x32 values per image: 16 KiB in float32, 8 KiB in bf16.
        try checkMicroBatchedInference(ResNetArchitecture.resnet(.resnet50, baseWidth: 8), cacheBytes: 200 * 1024,
                                       expected: InferenceSchedule(chunks: [3, 3, 3, 3, 2, 2], earlyBlocks: 3))
    }

    /// Micro-batches through layer1 and layer2: layer2.0's downsample writes into the whole
    /// batch's tensor and layer2.1-2.3 add into it in place.
    func testMicroBatchesAcrossTwoStagesWriteTheirRowsInPlace() throws {
        // layer2 writes 8 KiB per image in float32 (128 KiB for 16), layer3 4 KiB (64 KiB).
        try checkMicroBatchedInference(ResNetArchitecture.resnet(.resnet50, baseWidth: 8), cacheBytes: 96 * 1024,
                                       expected: InferenceSchedule(chunks: Array(repeating: 1, count: 16), earlyBlocks: 7))
    }

    /// Basic blocks without a downsample in layer1: each micro-batch's output is copied into
    /// the whole batch's tensor.
    func testMicroBatchesWithoutADownsampleAreCopied() throws {
        // layer1 writes 16x8x8 values per image: 4 KiB in float32 (64 KiB for 16); layer2 2 KiB.
        try checkMicroBatchedInference(ResNetArchitecture.resnet(.resnet18, baseWidth: 8), cacheBytes: 48 * 1024,
                                       expected: InferenceSchedule(chunks: Array(repeating: 1, count: 16), earlyBlocks: 2))
    }

    /// Features of 16 images (64x32) with `cacheBytes` (float32 sizes; half in bf16) against
    /// the whole batch at once, each twice, in fp32 and (where native) bf16.
    private func checkMicroBatchedInference(_ arch: ResNetArchitecture, cacheBytes: Int, expected: InferenceSchedule,
                                            file: StaticString = #filePath, line: UInt = #line) throws {
        var precisions: [Precision] = [.fp32]
        if Precision.nativeBF16 { precisions.append(.bf16) }
        for precision in precisions {
            let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, embeddingDim: 24, numClasses: 7), seed: 4)
            net.precision = precision
            var rng = SeededRandom(seed: 8)
            let images = rng.tensor([16, 64, 32, 3], .nhwc, -2, 2)
            let valueBytes = precision == .bf16 ? 2 : 4
            let cache = cacheBytes * valueBytes / 4
            let schedule = InferenceSchedule(architecture: arch, batch: 16, height: 64, width: 32, valueBytes: valueBytes,
                                             cacheBytes: cache, microBatch: nil)
            XCTAssertEqual(schedule, expected, "\(precision)", file: file, line: line)
            net.backbone.inferenceCacheBytes = Int.max
            let whole = try net.forward(images, mode: .inference).features.toArray()
            net.backbone.inferenceCacheBytes = cache
            let micro = try net.forward(images, mode: .inference).features.toArray()
            net.backbone.inferenceCacheBytes = Int.max
            let wholeAgain = try net.forward(images, mode: .inference).features.toArray()
            net.backbone.inferenceCacheBytes = cache
            let microAgain = try net.forward(images, mode: .inference).features.toArray()
            let scale = whole.map { abs($0) }.max()!
            XCTAssertGreaterThan(scale, 0, file: file, line: line)
            XCTAssertEqual(whole, wholeAgain, "\(precision)", file: file, line: line)
            XCTAssertEqual(micro, microAgain, "\(precision)", file: file, line: line)
            // The kernels may sum in another order at another batch size; in bf16 that may
            // move a value's rounding to bfloat16 by one step (2^-8 relative).
            let worst = zip(whole, micro).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, (precision == .bf16 ? 2e-2 : 1e-5) * scale,
                                     "\(precision): micro-batched features differ by \(worst)", file: file, line: line)
        }
    }

    /// Observers (data-driven importance criteria) see the whole batch at once, and
    /// nothing changes in what they see when the cache is small.
    func testObservedUnitsSeeTheWholeBatch() throws {
        let arch = ResNetArchitecture.resnet(.resnet50, baseWidth: 8)
        let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, embeddingDim: 24, numClasses: 7), seed: 4)
        var rng = SeededRandom(seed: 8)
        let images = rng.tensor([16, 64, 32, 3], .nhwc, -2, 2)
        net.backbone.inferenceCacheBytes = Int.max
        let whole = try net.forward(images, mode: .inference).features.toArray()
        var seen: [Int] = []
        net.backbone.blocks[0][0].units[0].onForward = { seen.append($0.shape[0]) }
        net.backbone.inferenceCacheBytes = 200 * 1024
        let observed = try net.forward(images, mode: .inference).features.toArray()
        XCTAssertEqual(seen, [16])
        XCTAssertEqual(observed, whole)
    }
}
