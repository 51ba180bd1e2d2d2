// Tensor: a float32 n-d array with 64-byte-aligned storage, a shape in memory order
// and a layout tag. Activations are channels-last, `x: (N, H, W, C)`; convolution
// weights are kept as PyTorch stores them, `w: (K, C, KH, KW)` (OIHW).
import Foundation

/// How a tensor's dimensions map to memory; `shape` lists dimensions in memory order.
public enum Layout: String, Hashable, Sendable, Codable {
    /// Activations, channels last: shape (N, H, W, C).
    case nhwc
    /// Activations as PyTorch stores them by default: shape (N, C, H, W). Interop only;
    /// no kernel computes in this layout.
    case nchw
    /// Convolution weights: shape (K, C, KH, KW).
    case oihw
    /// Matrices and feature batches: shape (N, D) or (rows, cols).
    case nc
    /// Vectors and anything without structure.
    case x
}

/// A float32 tensor. Storage is owned (allocated 64-byte aligned, zero-filled) or a view
/// into memory owned by someone else (a `ParameterStore` slot, for example).
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let layout: Layout
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    private let owner: AlignedBuffer?

    /// A new zero-filled tensor.
    public init(shape: [Int], layout: Layout) {
        require(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        Tensor.checkRank(shape, layout)
        self.shape = shape
        self.layout = layout
        self.count = shape.reduce(1, *)
        let buffer = AlignedBuffer(byteCount: max(count, 1) * MemoryLayout<Float>.stride)
        self.owner = buffer
        self.data = buffer.pointer.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// A tensor filled with `values` (count must match the shape).
    public convenience init(shape: [Int], layout: Layout, values: [Float]) {
        self.init(shape: shape, layout: layout)
        require(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A view of memory owned elsewhere; the caller keeps it alive as long as the view.
    public init(viewing pointer: UnsafeMutablePointer<Float>, shape: [Int], layout: Layout) {
        Tensor.checkRank(shape, layout)
        self.shape = shape
        self.layout = layout
        self.count = shape.reduce(1, *)
        self.data = pointer
        self.owner = nil
    }

    private static func checkRank(_ shape: [Int], _ layout: Layout) {
        switch layout {
        case .nhwc, .nchw, .oihw:
            require(shape.count == 4, "Tensor: layout \(layout) needs 4 dimensions, got shape \(shape)")
        case .nc:
            require(shape.count == 2, "Tensor: layout nc needs 2 dimensions, got shape \(shape)")
        case .x:
            break
        }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    public subscript(_ i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    public func toArray() -> [Float] { Array(buffer) }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public func zero() { fill(0) }

    /// Copies every element of `other`, which must have the same element count.
    public func copy(from other: Tensor) {
        require(other.count == count, "Tensor.copy: shapes \(other.shape) and \(shape) differ in size")
        data.update(from: other.data, count: count)
    }

    /// A new tensor with the same shape, layout and values.
    public func clone() -> Tensor {
        let t = Tensor(shape: shape, layout: layout)
        t.copy(from: self)
        return t
    }

    /// The same memory seen with another shape of equal size.
    public func reshaped(_ newShape: [Int], layout newLayout: Layout) -> Tensor {
        require(newShape.reduce(1, *) == count, "Tensor.reshaped: \(shape) cannot become \(newShape)")
        let view = Tensor(viewing: data, shape: newShape, layout: newLayout)
        view.keepAlive = self
        return view
    }

    /// A view of memory that `owner` holds, kept alive as long as the view.
    public convenience init(viewing pointer: UnsafeMutablePointer<Float>, shape: [Int], layout: Layout, keeping owner: AnyObject) {
        self.init(viewing: pointer, shape: shape, layout: layout)
        keptOwner = owner
    }

    /// Holds the tensor a view was made from.
    private var keepAlive: Tensor?
    /// Holds the object whose memory a view sees.
    private var keptOwner: AnyObject?

    public var description: String { "Tensor(\(layout) \(shape))" }
}

/// Raw memory aligned to 64 bytes (a cache line and an AVX-512 register), zero-filled.
public final class AlignedBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int

    public init(byteCount: Int) {
        self.byteCount = byteCount
        let size = max(64, (byteCount + 63) / 64 * 64)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    }

    deinit { pointer.deallocate() }
}

/// Stops the process with `message` when `condition` is false — in release builds too,
/// where `precondition` would stop without saying why. For programmer errors such as
/// shapes that do not fit; what a user can get wrong throws instead.
@inline(__always)
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #file, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
