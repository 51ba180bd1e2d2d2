// Batch: one training or evaluation batch as the model consumes it, and the protocol
// of whatever produces batches (a data loader, or an in-memory source in tests).
import Tensors

public struct Batch {
    /// (N, H, W, 3), normalized.
    public var images: Tensor
    /// Training labels (0..<numClasses) or dataset pids, one per image.
    public var pids: [Int]
    public var camids: [Int]

    public init(images: Tensor, pids: [Int], camids: [Int]) {
        require(images.shape.count == 4 && images.shape[0] == pids.count && pids.count == camids.count,
                     "Batch: \(images.shape) images with \(pids.count) pids and \(camids.count) camids")
        self.images = images
        self.pids = pids
        self.camids = camids
    }

    public var count: Int { pids.count }
}

/// Produces training batches epoch after epoch.
public protocol BatchSource: AnyObject {
    /// Identities the classifier distinguishes.
    var numClasses: Int { get }
    /// Batches in epoch 0; an identity sampler's count can differ by an epoch or so
    /// from epoch to epoch (as torchreid's), so loops over an epoch use `batches(inEpoch:)`.
    var batchesPerEpoch: Int { get }
    /// Batches in epoch `epoch`.
    func batches(inEpoch epoch: Int) -> Int
    /// Starts epoch `epoch` (0-based); the order of its batches depends only on the seed
    /// and the epoch, so that a resumed run sees the same batches.
    func startEpoch(_ epoch: Int)
    /// Starts epoch `epoch` at batch `first` (a run resumed in the middle of an epoch).
    func startEpoch(_ epoch: Int, at first: Int)
    /// The next batch of the current epoch; throws when an image cannot be read.
    func next() throws -> Batch
    /// True when each rank reads a stream of its own (shards), so that the images of a
    /// step depend on the number of ranks: a checkpoint then resumes only on as many
    /// ranks as wrote it. False when every rank takes its part of one global batch drawn
    /// by a sampler with the same seed everywhere (the rank count may change on resume).
    var perRankStream: Bool { get }
    /// Unreadable images replaced by another of the same identity in the batches served
    /// so far (`data.skip_corrupt`); batches prefetched but not served do not count.
    var replacedImages: Int { get }
}

extension BatchSource {
    public var replacedImages: Int { 0 }
}

extension BatchSource {
    public var perRankStream: Bool { false }
    public func batches(inEpoch epoch: Int) -> Int { batchesPerEpoch }
}

/// A fixed list of batches, served in order every epoch (tests, benchmarks).
public final class FixedBatchSource: BatchSource {
    public let batches: [Batch]
    public let numClasses: Int
    private var cursor = 0

    public init(batches: [Batch], numClasses: Int) {
        require(!batches.isEmpty, "FixedBatchSource: no batches")
        self.batches = batches
        self.numClasses = numClasses
    }

    public var batchesPerEpoch: Int { batches.count }
    public func startEpoch(_ epoch: Int) { cursor = 0 }
    public func startEpoch(_ epoch: Int, at first: Int) { cursor = first % batches.count }

    public func next() -> Batch {
        defer { cursor = (cursor + 1) % batches.count }
        return batches[cursor]
    }
}
