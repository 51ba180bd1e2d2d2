// TickUnit: how an axis formats its tick values (plain numbers, percent of a
// fraction, GFLOPs, milliseconds, millions of parameters).
import Foundation

/// The unit an axis shows; `format` writes a tick value with as many decimals as its step needs.
public enum TickUnit: Sendable {
    case plain
    /// Values are fractions (0.42) shown as percent (42%).
    case percent
    case gflops
    case milliseconds
    case millions

    /// Text for `value` on an axis whose ticks are `step` apart.
    public func format(_ value: Double, step: Double) -> String {
        let shown = self == .percent ? value * 100 : value
        let shownStep = self == .percent ? step * 100 : step
        let decimals = max(0, Int((-log10(shownStep)).rounded(.up) + 0.0001))
        let digits = min(decimals + (Self.needsExtraDigit(shownStep, decimals) ? 1 : 0), 8)
        var s = String(format: "%.\(digits)f", shown)
        if s.hasPrefix("-") && Double(s) == 0 { s.removeFirst() }
        switch self {
        case .plain: return s
        case .percent: return s + "%"
        case .gflops: return s + " GFLOPs"
        case .milliseconds: return s + " ms"
        case .millions: return s + " M"
        }
    }

    /// A step like 0.25 needs one more digit than its order of magnitude suggests.
    private static func needsExtraDigit(_ step: Double, _ decimals: Int) -> Bool {
        let scaled = step * pow(10, Double(decimals))
        return abs(scaled - scaled.rounded()) > 1e-6
    }
}
