// SeededRandom+Tests: test inputs drawn from the package's generator: floats in a range,
// arrays of them and tensors filled with them.
import Tensors

extension SeededRandom {
    /// Uniform in [low, high), from 24 random bits (exact in Float).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) * 0x1p-24
    }

    /// `count` values uniform in [low, high).
    public mutating func array(_ count: Int, _ low: Float = -1, _ high: Float = 1) -> [Float] {
        (0..<count).map { _ in uniform(low, high) }
    }

    /// A tensor of `shape` in `layout` with values uniform in [low, high).
    public mutating func tensor(_ shape: [Int], _ layout: Layout, _ low: Float = -1, _ high: Float = 1) -> Tensor {
        Tensor(shape: shape, layout: layout, values: array(shape.reduce(1, *), low, high))
    }
}
