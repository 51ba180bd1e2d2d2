// LinearScale: maps a data interval onto a pixel interval (either direction),
// the x and y axes of every plot.

/// `domain.lower ... domain.upper` mapped linearly onto `range.0 ... range.1` pixels.
public struct LinearScale: Sendable {
    public let lower, upper: Double
    public let start, end: Double

    /// A degenerate domain (lower == upper) is widened by one unit around its value.
    public init(domain: (Double, Double), range: (Double, Double)) {
        var (a, b) = domain
        if !(b > a) { (a, b) = (a - 0.5, a + 0.5) }
        lower = a; upper = b; start = range.0; end = range.1
    }

    /// The pixel position of `v`.
    public func callAsFunction(_ v: Double) -> Double {
        start + (v - lower) / (upper - lower) * (end - start)
    }
}
