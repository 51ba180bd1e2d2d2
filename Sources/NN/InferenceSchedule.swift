// InferenceSchedule: how inference runs a ResNet over a batch. The stem and the first
// blocks, whose activations at the whole batch do not fit in the last-level cache, run
// on micro-batches small enough that each one's activations stay in the cache from one
// convolution to the next; the later blocks run on the whole batch (their weights are
// larger and their maps smaller, so large batches suit their kernels).
import Foundation
import Tensors

public struct InferenceSchedule: Equatable, Sendable {
    /// Images per micro-batch, in order; they add up to the batch. One entry when the whole
    /// batch runs at once.
    public let chunks: [Int]
    /// How many blocks, in forward order across stages, run on micro-batches (with the stem
    /// and max pooling before them); 0 when none do.
    public let earlyBlocks: Int

    /// The whole batch at once.
    public static func whole(_ batch: Int) -> InferenceSchedule { InferenceSchedule(chunks: [batch], earlyBlocks: 0) }

    public init(chunks: [Int], earlyBlocks: Int) {
        self.chunks = chunks
        self.earlyBlocks = earlyBlocks
    }

    /// The schedule for images (batch, height, width, 3) through `architecture`, with
    /// activations of `valueBytes` bytes (4 float32, 2 bfloat16) and a last-level cache
    /// of `cacheBytes`:
    /// - a block runs on micro-batches when it and every block before it write an output
    ///   at least as large as the cache at the whole batch;
    /// - a micro-batch holds as many images as fit a quarter of the cache with the
    ///   largest of those activations (the stem's output counts), at least one;
    /// - the batch is cut into the fewest micro-batches of at most that size, as even
    ///   as possible (their sizes differ by at most one).
    /// `microBatch` overrides the size (0: never; nil: `environmentMicroBatch`, else the
    /// rule above).
    public init(architecture: ResNetArchitecture, batch: Int, height: Int, width: Int, valueBytes: Int = 4,
                cacheBytes: Int = CPUCache.lastLevelBytes, microBatch: Int? = InferenceSchedule.environmentMicroBatch) {
        let stem = ResNetArchitecture.stemSizes(height: height, width: width)
        var (h, w) = stem.pooled
        var largest = stem.conv.0 * stem.conv.1 * architecture.stemWidth * valueBytes
        var early = 0
        scan: for stage in architecture.stages {
            for spec in stage.blocks {
                // A block's stride is that of a 3x3 convolution with padding 1.
                (h, w) = ResNetArchitecture.outputSize(h, w, kernel: 3, stride: spec.stride, padding: 1)
                let perImage = h * w * stage.width * valueBytes
                guard batch * perImage >= cacheBytes else { break scan }
                largest = max(largest, perImage)
                early += 1
            }
        }
        let size = microBatch ?? max(1, cacheBytes / 4 / max(largest, 1))
        guard early > 0, size > 0, size < batch else {
            self = .whole(batch)
            return
        }
        let count = (batch + size - 1) / size
        chunks = (0..<count).map { batch / count + ($0 < batch % count ? 1 : 0) }
        earlyBlocks = early
    }

    /// REIDPRUNE_MICROBATCH: "0" never runs micro-batches, a positive number sets their
    /// size (benchmarks); unset or anything else chooses by the cache.
    public static let environmentMicroBatch: Int? = {
        guard let text = ProcessInfo.processInfo.environment["REIDPRUNE_MICROBATCH"], let m = Int(text), m >= 0 else {
            return nil
        }
        return m
    }()
}
