// ConvolutionAccounting: how many convolution calls of each pass (forward, backward-data,
// backward-weights) ran on the threads it is attached to, and their wall time: the whole
// call and the oneDNN primitive's execution alone. The training benchmark attaches one to
// see how much of a step the convolutions take.
import Foundation

/// The three passes of a 2-D convolution.
public enum ConvolutionKind: String, CaseIterable, Sendable, Codable {
    /// x -> y, also when backward recomputes a convolution's output (the stem's).
    case forward
    /// dy -> dx.
    case backwardData = "backward_data"
    /// x, dy -> dWeight (and dBias).
    case backwardWeights = "backward_weights"

    var index: Int {
        switch self {
        case .forward: return 0
        case .backwardData: return 1
        case .backwardWeights: return 2
        }
    }
}

/// Counters of the convolutions run by the threads this is attached to (`attach()`, one
/// thread's oneDNN context each; several threads may share one counter: it is locked).
/// While no counter is attached a convolution costs one extra branch and no clock read.
///
/// What a call's time covers (`Tally.nanoseconds`): from the convolution entry point
/// (`Convolution.forward`, `.backwardData`, `.backwardWeights`) after its shape checks and
/// plan lookup to its return: the reorder of the OIHW weights into the primitive's format
/// (forward, backward-data) or of the weight gradient back to OIHW (backward-weights),
/// the reorders of activations into and out of a blocked layout (Winograd kernels; in
/// bf16 the f32 -> bf16 conversions), and the primitive. `primitiveNanoseconds` is the
/// primitive's execution alone (execute and stream wait), `weightReorderNanoseconds` the
/// weight reorders alone; the rest (`activationNanoseconds`) is the activation reorders
/// and the arguments' binding.
public final class ConvolutionAccounting: @unchecked Sendable {
    /// The totals of one pass.
    public struct Tally: Sendable, Equatable {
        public var calls = 0
        /// Wall time of whole calls (reorders around the primitive included).
        public var nanoseconds: UInt64 = 0
        /// Wall time inside the oneDNN primitive.
        public var primitiveNanoseconds: UInt64 = 0
        /// Wall time of the weight reorders into (or, for backward-weights, out of) the
        /// primitive's format.
        public var weightReorderNanoseconds: UInt64 = 0

        public init() {}

        /// Wall time of the call that is neither the primitive nor the weight reorders: the
        /// activation reorders and binding the arguments.
        public var activationNanoseconds: UInt64 {
            let known = primitiveNanoseconds + weightReorderNanoseconds
            return nanoseconds - min(nanoseconds, known)
        }
    }

    private let lock = NSLock()
    private var tallies = [Tally](repeating: Tally(), count: ConvolutionKind.allCases.count)

    public init() {}

    /// The totals of `kind` so far.
    public func tally(_ kind: ConvolutionKind) -> Tally {
        lock.lock()
        defer { lock.unlock() }
        return tallies[kind.index]
    }

    /// Every pass's totals so far.
    public var snapshot: [ConvolutionKind: Tally] {
        lock.lock()
        defer { lock.unlock() }
        return Dictionary(uniqueKeysWithValues: ConvolutionKind.allCases.map { ($0, tallies[$0.index]) })
    }

    /// Sets every count and time back to zero.
    public func reset() {
        lock.lock()
        defer { lock.unlock() }
        tallies = [Tally](repeating: Tally(), count: ConvolutionKind.allCases.count)
    }

    /// Counts the convolutions the calling thread runs from now on here (replacing any
    /// counter attached before), until `detach()` on the same thread.
    public func attach() { DNNL.current.convolutionAccounting = self }

    /// Stops counting the calling thread's convolutions.
    public static func detach() { DNNL.current.convolutionAccounting = nil }

    /// The counter attached to the calling thread, if any.
    public static var attached: ConvolutionAccounting? { DNNL.current.convolutionAccounting }

    func addCall(_ kind: ConvolutionKind, nanoseconds: UInt64) {
        lock.lock()
        tallies[kind.index].calls += 1
        tallies[kind.index].nanoseconds += nanoseconds
        lock.unlock()
    }

    func addWeightReorder(_ kind: ConvolutionKind, nanoseconds: UInt64) {
        lock.lock()
        tallies[kind.index].weightReorderNanoseconds += nanoseconds
        lock.unlock()
    }

    func addPrimitive(_ kind: ConvolutionKind, nanoseconds: UInt64) {
        lock.lock()
        tallies[kind.index].primitiveNanoseconds += nanoseconds
        lock.unlock()
    }
}
