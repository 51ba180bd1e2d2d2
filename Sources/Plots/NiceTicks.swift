// NiceTicks: chooses axis ticks at 1, 2, 2.5 or 5 x 10^k steps covering a data
// interval, so that labels read 0.020, 0.025, 0.030 rather than 0.0191, 0.0382.
import Foundation

/// Evenly valued ticks over an interval and the (widened) interval they span.
public struct NiceTicks: Sendable {
    /// Tick values, ascending, `step` apart.
    public let values: [Double]
    public let step: Double

    /// Ticks covering `lower ... upper` with about `target` intervals; the first tick is
    /// at or below `lower`, the last at or above `upper`.
    public init(lower: Double, upper: Double, target: Int = 5) {
        var (a, b) = (min(lower, upper), max(lower, upper))
        if b - a < 1e-12 * max(1, abs(a)) {
            let pad = a == 0 ? 1 : abs(a) * 0.1
            (a, b) = (a - pad, b + pad)
        }
        let raw = (b - a) / Double(max(1, target))
        let mag = pow(10, (log10(raw)).rounded(.down))
        let step = [1, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw * 0.999 } ?? 10 * mag
        let first = (a / step).rounded(.down), last = (b / step).rounded(.up)
        self.step = step
        values = stride(from: first, through: last + 0.5, by: 1).map { ($0 * step * 1e9).rounded() / 1e9 }
            .filter { $0 <= last * step + step * 1e-6 }
    }

    public var lower: Double { values.first ?? 0 }
    public var upper: Double { values.last ?? 1 }

    /// Tick labels in `unit`.
    public func labels(_ unit: TickUnit) -> [String] { values.map { unit.format($0, step: step) } }
}
