// Color: an RGB color of the SynthReID palettes, with the blends the renderer uses and
// a random jitter drawn from the caller's keyed stream.
import Tensors

/// An RGB color with components in [0, 1].
public struct Color: Codable, Hashable, Sendable {
    public var r: Double, g: Double, b: Double

    public init(_ r: Double, _ g: Double, _ b: Double) {
        self.r = r
        self.g = g
        self.b = b
    }

    public func scaled(_ s: Double) -> Color { Color(r * s, g * s, b * s) }

    public func mixed(_ o: Color, _ t: Double) -> Color {
        Color(r + (o.r - r) * t, g + (o.g - g) * t, b + (o.b - b) * t)
    }

    /// The color with each component moved by up to `amount` at random.
    public func jittered(_ rng: inout SeededRandom, _ amount: Double) -> Color {
        Color(min(max(r + rng.uniform(-amount, amount), 0), 1), min(max(g + rng.uniform(-amount, amount), 0), 1),
              min(max(b + rng.uniform(-amount, amount), 0), 1))
    }
}
