// SeededRandom: the package's one deterministic random generator, xoshiro256** whose
// state is filled by SplitMix64 from a key folded out of (seed, keys...). A keyed stream
// (an image, an identity, an epoch) depends only on its key, never on thread scheduling
// or on what was drawn before; the same seed gives the same weights on every rank.
import Foundation

/// xoshiro256** (Blackman & Vigna 2018). `init(seed:)` fills the four state words with
/// SplitMix64 started at `seed`; `init(seed:keys:)` first folds each key into the seed with
/// the SplitMix64 finalizer, so that (seed, a, b) and (seed, a, c) give independent streams
/// and no keys give the stream of `init(seed:)`. Encodes as `{"state": [4 words]}`.
public struct SeededRandom: RandomNumberGenerator, Codable, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// SplitMix64's increment (the golden ratio in 64 bits).
    private static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The stream of `seed`.
    public init(seed: UInt64) {
        self.init(seed: seed, keys: [])
    }

    /// The stream of `seed` and `keys` (for example a purpose, then an identity or an
    /// epoch and a position), independent of every other key's stream.
    public init(seed: UInt64, keys: Int...) {
        self.init(seed: seed, keys: keys)
    }

    /// The stream of `seed` and `keys`; an empty `keys` gives the stream of `init(seed:)`.
    public init(seed: UInt64, keys: [Int]) {
        var x = seed
        for k in keys { x = Self.mix(x ^ Self.mix(UInt64(UInt(bitPattern: k)) &+ Self.gamma)) }
        func splitMix() -> UInt64 {
            x &+= Self.gamma
            return Self.mix(x)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    /// SplitMix64's finalizer: a bijection of 64-bit words with full avalanche.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    // MARK: Draws

    /// Uniform in [0, 1), from the top 53 bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [a, b).
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }

    /// Uniform integer in 0..<bound.
    public mutating func int(_ bound: Int) -> Int {
        require(bound > 0, "SeededRandom.int: bound must be positive, got \(bound)")
        return Int(next() % UInt64(bound))
    }

    /// Uniform integer in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + int(range.count) }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { uniform() < p }

    /// Standard normal (Box-Muller, cosine branch).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// One of `items`, each equally likely.
    public mutating func pick<T>(_ items: [T]) -> T {
        require(!items.isEmpty, "SeededRandom.pick: no items to pick from")
        return items[int(items.count)]
    }

    /// An index drawn with the given (unnormalized, non-negative) weights.
    public mutating func weighted(_ weights: [Double]) -> Int {
        require(!weights.isEmpty, "SeededRandom.weighted: no weights")
        var r = uniform() * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            r -= w
            if r < 0 { return i }
        }
        return weights.count - 1
    }

    /// Shuffles `items` in place (Fisher-Yates from the last element down): the same
    /// stream gives the same order on every platform, unlike `shuffle(using:)`.
    public mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) { items.swapAt(i, int(i + 1)) }
    }

    // MARK: Codable

    enum CodingKeys: String, CodingKey { case state }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let words = try c.decode([UInt64].self, forKey: .state)
        guard words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .state, in: c,
                                                   debugDescription: "SeededRandom: state must be 4 words, not all zero; got \(words)")
        }
        (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([s0, s1, s2, s3], forKey: .state)
    }
}
