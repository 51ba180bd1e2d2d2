// LatencyTable: milliseconds per inference convolution shape on one machine (CPU model
// and thread count: `machine`), and the latency it predicts for a whole architecture
// (the sum over its convolutions; pooling and the head are left out). Shapes missing
// from the table are timed by `measure` when one is given (the root's convolution
// timer), else they are an error: a hand-made table must cover what it is asked.
import NN
import Tensors

public final class LatencyTable: @unchecked Sendable {
    /// Which machine the entries were timed on ("<CPU model> | <n> threads").
    public let machine: String
    public private(set) var entries: [ConvShape: Double]
    /// Entries added by `measure` since the table was made.
    public private(set) var measured = 0
    private let measure: ((ConvShape) throws -> Double)?
    /// Bytes per activation value (4 float32, 2 bfloat16 inference) and the last-level
    /// cache's size: what decides which convolutions inference runs on micro-batches
    /// (`InferenceSchedule`), and so which shapes an architecture's latency sums.
    public let valueBytes: Int
    public let cacheBytes: Int

    public init(machine: String, entries: [ConvShape: Double] = [:], valueBytes: Int = 4,
                cacheBytes: Int = CPUCache.lastLevelBytes, measure: ((ConvShape) throws -> Double)? = nil) {
        self.machine = machine
        self.entries = entries
        self.valueBytes = valueBytes
        self.cacheBytes = cacheBytes
        self.measure = measure
    }

    /// The entry for `shape`, timed and added first when missing and a timer is given.
    public func milliseconds(_ shape: ConvShape) throws -> Double {
        if let ms = entries[shape] { return ms }
        guard let measure else {
            throw PruningError("the latency table (\(machine)) has no entry for the convolution \(shape.key)")
        }
        let ms = try measure(shape)
        guard ms.isFinite && ms >= 0 else { throw PruningError("timing the convolution \(shape.key) gave \(ms) ms") }
        entries[shape] = ms
        measured += 1
        return ms
    }

    /// Predicted inference latency (ms) of `arch` for images (batch, height, width, 3):
    /// the sum of its convolutions' entries, those run on micro-batches once per micro-batch.
    public func milliseconds(_ arch: ResNetArchitecture, batch: Int, height: Int, width: Int) throws -> Double {
        try arch.inferenceConvolutions(batch: batch, height: height, width: width, valueBytes: valueBytes,
                                       cacheBytes: cacheBytes).reduce(0) { $0 + (try milliseconds($1)) }
    }
}
