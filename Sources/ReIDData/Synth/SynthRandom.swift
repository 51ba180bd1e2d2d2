// SynthRandom: the deterministic generator behind SynthReID. Every identity, camera and
// image draws from its own stream keyed by (seed, purpose, numbers), so that an image
// does not depend on which thread renders it or on what was generated before.

public struct SynthRandom {
    private var state: UInt64

    public init(_ seed: UInt64, _ keys: Int...) {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 &+ 0x632B_E59B_D9B4_E019
        for k in keys {
            s ^= UInt64(bitPattern: Int64(k)) &+ 0x9E37_79B9_7F4A_7C15 &+ (s << 6) &+ (s >> 2)
            s = SynthRandom.mix(s)
        }
        state = s
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SynthRandom.mix(state)
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }
    public mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    public mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + int(range.count) }
    public mutating func chance(_ p: Double) -> Bool { uniform() < p }

    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-12), u2 = uniform()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    public mutating func pick<T>(_ items: [T]) -> T { items[int(items.count)] }

    /// An index drawn with the given (unnormalized) weights.
    public mutating func weighted(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var r = uniform() * total
        for (i, w) in weights.enumerated() {
            r -= w
            if r < 0 { return i }
        }
        return weights.count - 1
    }
}

import Foundation

@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }

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
    public func jittered(_ rng: inout SynthRandom, _ amount: Double) -> Color {
        Color(min(max(r + rng.uniform(-amount, amount), 0), 1), min(max(g + rng.uniform(-amount, amount), 0), 1),
              min(max(b + rng.uniform(-amount, amount), 0), 1))
    }
}
