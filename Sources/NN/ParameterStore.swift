// ParameterStore: every parameter, gradient and optimizer moment of a model in flat,
// 64-byte-aligned buffers with named slots (torchvision key names such as
// `layer1.0.conv2.weight`), and the non-trainable buffers (BN running statistics,
// batch counters) kept apart in their own flat buffer. Zeroing, allreduce, optimizer
// steps and checksums are single loops or calls over (pointer, count).
import Foundation
import Tensors

/// What a parameter is, so that optimizers can treat kinds differently (no weight
/// decay on BN and bias, for example).
public enum ParameterRole: String, Codable, Sendable {
    case convWeight, linearWeight, bias, normWeight, normBias
}

/// What a non-trainable buffer is.
public enum BufferRole: String, Codable, Sendable {
    case runningMean, runningVariance, batchCount
}

/// One named region of a flat buffer.
public struct Slot: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let layout: Layout
    /// Offset in floats from the start of the flat buffer; a multiple of 16 (64 bytes).
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// Parameters (trainable or frozen), their gradients, optimizer moments and buffers.
/// Slots are registered first, then `allocate()` lays out the flat buffers.
public final class ParameterStore: @unchecked Sendable {
    public private(set) var parameterSlots: [Slot] = []
    public private(set) var parameterRoles: [ParameterRole] = []
    /// False for parameters that exist but are not trained (a BNNeck's shift).
    public private(set) var trainable: [Bool] = []
    public private(set) var bufferSlots: [Slot] = []
    public private(set) var bufferRoles: [BufferRole] = []
    private var names: [String: (isBuffer: Bool, index: Int)] = [:]

    /// Floats in the parameter (and gradient) buffer, padding included.
    public private(set) var parameterCapacity = 0
    public private(set) var bufferCapacity = 0
    public private(set) var parameters: UnsafeMutablePointer<Float>!
    public private(set) var gradients: UnsafeMutablePointer<Float>!
    public private(set) var buffers: UnsafeMutablePointer<Float>!
    private var storage: [AlignedBuffer] = []
    /// Optimizer state, one flat buffer per named moment (for example "momentum",
    /// "exp_avg", "exp_avg_sq"), laid out like the parameters.
    public private(set) var moments: [String: UnsafeMutablePointer<Float>] = [:]

    public init() {}

    public var isAllocated: Bool { parameters != nil }

    /// Registers a parameter and returns its index.
    @discardableResult
    public func register(_ name: String, shape: [Int], layout: Layout, role: ParameterRole, trainable: Bool = true) -> Int {
        require(!isAllocated, "ParameterStore: cannot register \(name) after allocation")
        require(names[name] == nil, "ParameterStore: duplicate name \(name)")
        let slot = Slot(name: name, shape: shape, layout: layout, offset: parameterCapacity)
        parameterCapacity += ParameterStore.padded(slot.count)
        parameterSlots.append(slot)
        parameterRoles.append(role)
        self.trainable.append(trainable)
        names[name] = (false, parameterSlots.count - 1)
        return parameterSlots.count - 1
    }

    /// Registers a non-trainable buffer and returns its index.
    @discardableResult
    public func registerBuffer(_ name: String, shape: [Int], role: BufferRole) -> Int {
        require(!isAllocated, "ParameterStore: cannot register \(name) after allocation")
        require(names[name] == nil, "ParameterStore: duplicate name \(name)")
        let slot = Slot(name: name, shape: shape, layout: .x, offset: bufferCapacity)
        bufferCapacity += ParameterStore.padded(slot.count)
        bufferSlots.append(slot)
        bufferRoles.append(role)
        names[name] = (true, bufferSlots.count - 1)
        return bufferSlots.count - 1
    }

    /// Lays out the flat buffers (zero-filled).
    public func allocate() {
        require(!isAllocated, "ParameterStore: allocated twice")
        parameters = newFlat(parameterCapacity)
        gradients = newFlat(parameterCapacity)
        buffers = newFlat(bufferCapacity)
    }

    /// The optimizer moment called `name`, created zero-filled on first use.
    public func moment(_ name: String) -> UnsafeMutablePointer<Float> {
        if let m = moments[name] { return m }
        let m = newFlat(parameterCapacity)
        moments[name] = m
        return m
    }

    /// Drops every optimizer moment (a new optimizer starts from zero).
    public func resetMoments() { moments.removeAll() }

    private func newFlat(_ count: Int) -> UnsafeMutablePointer<Float> {
        let buffer = AlignedBuffer(byteCount: max(count, 16) * 4)
        storage.append(buffer)
        return buffer.pointer.bindMemory(to: Float.self, capacity: max(count, 16))
    }

    static func padded(_ count: Int) -> Int { (count + 15) / 16 * 16 }

    // MARK: access

    public func parameter(_ index: Int) -> Tensor { view(parameters, parameterSlots[index]) }
    public func gradient(_ index: Int) -> Tensor { view(gradients, parameterSlots[index]) }
    public func buffer(_ index: Int) -> Tensor { view(buffers, bufferSlots[index]) }
    public func moment(_ name: String, _ index: Int) -> Tensor { view(moment(name), parameterSlots[index]) }

    private func view(_ base: UnsafeMutablePointer<Float>, _ slot: Slot) -> Tensor {
        require(isAllocated, "ParameterStore: access to \(slot.name) before allocation")
        return Tensor(viewing: base + slot.offset, shape: slot.shape, layout: slot.layout)
    }

    /// Where a name lives: a parameter index or a buffer index, or nil.
    public func lookup(_ name: String) -> (isBuffer: Bool, index: Int)? { names[name] }

    /// Parameter and buffer names in registration order (parameters first).
    public var allNames: [String] { parameterSlots.map(\.name) + bufferSlots.map(\.name) }

    /// Number of parameter values (trainable and frozen), padding excluded.
    public var parameterCount: Int { parameterSlots.reduce(0) { $0 + $1.count } }

    /// Bumped whenever parameters or buffers change (optimizer steps, loads, training
    /// forwards that update BN statistics), so that derived copies (BN folded into
    /// convolutions for inference) know when to recompute.
    public private(set) var version = 0

    public func parametersChanged() { version &+= 1 }

    /// Called with a parameter index as soon as backward has written its gradient (the
    /// trainer starts allreducing a bucket when all of its slots are ready).
    public var onGradientReady: ((Int) -> Void)?

    /// Layers call this after writing parameter `index`'s gradient.
    @inline(__always)
    public func gradientReady(_ index: Int) { onGradientReady?(index) }

    public func zeroGradients() { gradients.update(repeating: 0, count: parameterCapacity) }

    /// A checksum of parameters and buffers: the sum and the position-weighted sum of
    /// every value in double, so equal stores give equal pairs and a moved value shows.
    public func checksum(includeBuffers: Bool = true) -> (sum: Double, weighted: Double) {
        var s = 0.0, w = 0.0
        let regions = [(parameters!, parameterCapacity)] + (includeBuffers ? [(buffers!, bufferCapacity)] : [])
        for (base, capacity) in regions {
            for i in 0..<capacity {
                let v = Double(base[i])
                s += v
                w += v * Double(i % 1021 + 1)
            }
        }
        return (s, w)
    }

    /// Per-slot checksums of parameters then buffers, to find the first slot that differs.
    public func slotChecksums(includeBuffers: Bool = true) -> [Double] {
        parameterSlots.map { sum(parameters + $0.offset, $0.count) }
            + (includeBuffers ? bufferSlots.map { sum(buffers + $0.offset, $0.count) } : [])
    }

    private func sum(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(p[i]) * Double(i % 7 + 1) }
        return s
    }
}
