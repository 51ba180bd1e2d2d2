// ParameterStore+Finite: one pass over a flat buffer for the trainer's per-step check
// (the L2 norm of the summed gradients, non-finite as soon as one value is) and for the
// check before a checkpoint is written (the first slot holding NaN or infinite values).
// Squares are summed in double, where no float squared overflows, so the sum is finite
// exactly when every value is.
import Tensors

extension ParameterStore {
    /// The L2 norm of the whole gradient buffer; NaN or infinity when any gradient is.
    /// One pass, split over oneDNN's threads.
    public func gradientNorm() -> Double {
        ParameterStore.sumOfSquares(gradients, count: parameterCapacity).squareRoot()
    }

    /// The first parameter, buffer or optimizer moment (as "moment name/slot") holding a
    /// NaN or infinite value, or nil when all are finite.
    public func firstNonFinite(moments names: [String] = []) -> String? {
        var regions = [(parameters!, parameterSlots, ""), (buffers!, bufferSlots, "")]
        for name in names { if let m = moments[name] { regions.append((m, parameterSlots, "\(name) of ")) } }
        for (base, slots, label) in regions {
            let capacity = slots.last.map { $0.offset + $0.count } ?? 0
            guard !ParameterStore.sumOfSquares(base, count: capacity).isFinite else { continue }
            if let slot = slots.first(where: { !ParameterStore.sumOfSquares(base + $0.offset, count: $0.count).isFinite }) {
                return label + slot.name
            }
        }
        return nil
    }

    /// Σ x² over `count` floats in double, in chunks over oneDNN's threads; each chunk
    /// keeps eight partial sums so that the loop does not wait on one addition chain.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        let grain = 1 << 16
        let chunks = (count + grain - 1) / grain
        var partial = [Double](repeating: 0, count: max(chunks, 1))
        partial.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            parallelFor(chunks) { c in
                let start = c * grain, end = min(count, start + grain)
                var s = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
                var i = start
                while i + 8 <= end {
                    let a0 = Double(x[i]), a1 = Double(x[i + 1]), a2 = Double(x[i + 2]), a3 = Double(x[i + 3])
                    let a4 = Double(x[i + 4]), a5 = Double(x[i + 5]), a6 = Double(x[i + 6]), a7 = Double(x[i + 7])
                    s.0 += a0 * a0; s.1 += a1 * a1; s.2 += a2 * a2; s.3 += a3 * a3
                    s.4 += a4 * a4; s.5 += a5 * a5; s.6 += a6 * a6; s.7 += a7 * a7
                    i += 8
                }
                while i < end { let a = Double(x[i]); s.0 += a * a; i += 1 }
                out[c] = ((s.0 + s.1) + (s.2 + s.3)) + ((s.4 + s.5) + (s.6 + s.7))
            }
        }
        return partial.reduce(0, +)
    }
}
