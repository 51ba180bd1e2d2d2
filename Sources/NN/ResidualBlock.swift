// ResidualBlock: torchvision's BasicBlock (3x3, 3x3) or Bottleneck (1x1, 3x3 with the
// stride, 1x1) with an optional 1x1 downsample, `x: (N, H, W, C) -> (N, H', W', K)`,
// output relu(branch + shortcut). Training keeps the block's input and output (shared
// with the blocks before and after it, packed in bf16); the units keep their convolution
// outputs, and the outputs of the inner units (the next unit's input) are recomputed
// during backward instead of kept.
import Tensors

public final class ResidualBlock {
    public let units: [ConvBN]
    public let downsample: ConvBN?
    /// Whether a forward observer watches one of the block's convolutions.
    var isObserved: Bool { units.contains { $0.onForward != nil } || downsample?.onForward != nil }
    /// The last training forward's input (the producer's: the block before, or the stem's
    /// pooling, releases it) and output (this block's: from the pool, released by backward).
    private var input: SavedActivation?
    private var output: SavedActivation?
    /// The arithmetic of the block's convolutions. In bf16 the block also rounds its output
    /// to bfloat16 (its convolution consumers round it anyway; only the identity shortcut
    /// of the next block sees the difference), so that it can be kept packed exactly.
    public var precision = Precision.fp32 {
        didSet { for u in allUnits { u.precision = precision } }
    }

    /// Registers the block's parameters under `prefix` (for example "layer2.0").
    public init(store: ParameterStore, prefix: String, kind: BlockKind, inChannels: Int, spec: BlockSpec, width: Int) {
        switch kind {
        case .basic:
            units = [
                ConvBN(store: store, conv: "\(prefix).conv1", bn: "\(prefix).bn1", inChannels: inChannels,
                       outChannels: spec.inner[0], kernel: 3, stride: spec.stride, padding: 1, relu: true),
                ConvBN(store: store, conv: "\(prefix).conv2", bn: "\(prefix).bn2", inChannels: spec.inner[0],
                       outChannels: width, kernel: 3, padding: 1, relu: false),
            ]
        case .bottleneck:
            units = [
                ConvBN(store: store, conv: "\(prefix).conv1", bn: "\(prefix).bn1", inChannels: inChannels,
                       outChannels: spec.inner[0], kernel: 1, relu: true),
                ConvBN(store: store, conv: "\(prefix).conv2", bn: "\(prefix).bn2", inChannels: spec.inner[0],
                       outChannels: spec.inner[1], kernel: 3, stride: spec.stride, padding: 1, relu: true),
                ConvBN(store: store, conv: "\(prefix).conv3", bn: "\(prefix).bn3", inChannels: spec.inner[1],
                       outChannels: width, kernel: 1, relu: false),
            ]
        }
        downsample = spec.hasDownsample
            ? ConvBN(store: store, conv: "\(prefix).downsample.0", bn: "\(prefix).downsample.1", inChannels: inChannels,
                     outChannels: width, kernel: 1, stride: spec.stride, relu: false)
            : nil
    }

    public var allUnits: [ConvBN] { units + (downsample.map { [$0] } ?? []) }

    /// The shape inference writes for an input of `shape` (N, H, W, C).
    func outputShape(forInput shape: [Int]) -> [Int] {
        units.reduce(shape) { $1.outputShape(forInput: $0) }
    }

    /// x: (N, H, W, C) -> (N, H', W', K), from `pool`. In inference the caller gives it
    /// back (and gives back x when done with it); in training the block keeps x and the
    /// output until backward, which gives the output back (x stays the caller's).
    public func forward(_ x: Tensor, mode: Mode, pool: TensorPool) throws -> Tensor {
        if mode == .inference { return infer(x, pool: pool) }
        return try forwardTraining(SavedActivation(borrowing: x), pool: pool).tensor(pool)
    }

    /// Training forward of the input x: (N, H, W, C) -> output (N, H', W', K), which the
    /// block keeps (from the pool) until its backward releases it. In bf16 the output is
    /// rounded to bfloat16, and once this forward is done the input is packed until
    /// backward (the producer made it rounded; a borrowed input stays as it is).
    func forwardTraining(_ input: SavedActivation, pool: TensorPool) throws -> SavedActivation {
        let x = input.tensor(pool)
        var h = x
        for u in units.dropLast() {
            let next = try u.forwardTraining(h, pool: pool)
            if h !== x { pool.give(h) }
            h = next
        }
        output?.release(pool)
        output = nil
        let out = try units.last!.forwardTraining(h, pool: pool)
        if h !== x { pool.give(h) }
        if let downsample {
            let shortcut = try downsample.forwardTraining(x, pool: pool)
            require(out.shape == shortcut.shape,
                    "\(units[0].convName): branch \(out.shape) and shortcut \(shortcut.shape) differ")
            Elementwise.add(out, shortcut, into: out, relu: true)
            pool.give(shortcut)
        } else {
            require(out.shape == x.shape, "\(units[0].convName): branch \(out.shape) and shortcut \(x.shape) differ")
            Elementwise.add(out, x, into: out, relu: true)
        }
        let saved = SavedActivation(pooled: out)
        if precision == .bf16 {
            saved.roundKeepingPackedCopy(pool)
            input.pack(pool)
        }
        self.input = input
        output = saved
        return saved
    }

    /// Inference: the last convolution adds its result into the shortcut (the downsample's
    /// output, or x itself, which is then the block's output) and applies the ReLU, in
    /// one kernel. The result is x, `output` or a pool tensor; the caller gives x back
    /// unless it is the result. `output` (of `outputShape(forInput:)`), when given, takes
    /// the downsample's output and so the block's; the block must have a downsample. With
    /// `bf16Activations`, x and every tensor after it hold bfloat16.
    func infer(_ x: Tensor, pool: TensorPool, output: Tensor? = nil, bf16Activations: Bool = false) -> Tensor {
        require(output == nil || downsample != nil, "\(units[0].convName): an output tensor needs a downsample")
        var h = x
        for u in units.dropLast() {
            let next = u.infer(h, pool: pool, into: nil, bf16Activations: bf16Activations)
            if h !== x { pool.give(h) }
            h = next
        }
        let shortcut = downsample?.infer(x, pool: pool, into: nil, output: output, bf16Activations: bf16Activations) ?? x
        let out = units.last!.infer(h, pool: pool, into: shortcut, bf16Activations: bf16Activations)
        if h !== x { pool.give(h) }
        return out
    }

    /// dy: gradient of the block output; it is overwritten. Returns dx from the pool and
    /// gives the block's output back to it once the last unit's backward is done with it
    /// (the input stays its producer's). Each inner unit's output, the input of the unit
    /// after it, is recomputed from its kept convolution output when that unit's backward
    /// needs it, and given back right after.
    public func backward(_ dy: Tensor, pool: TensorPool) throws -> Tensor {
        guard let saved = output, let input else { fatalError("\(units[0].convName): backward without forward") }
        let y = saved.tensor(pool)
        Elementwise.reluBackward(y: y, dy: dy, dx: dy)
        var g = dy
        for i in units.indices.reversed() {
            let last = i == units.count - 1
            let unitInput = i == 0 ? input.tensor(pool) : units[i - 1].recomputeOutput(pool: pool)
            // The last unit's observer sees the block output, as it always has.
            let next = try units[i].backward(g, input: unitInput, output: last ? y : nil, pool: pool)!
            if i > 0 { pool.give(unitInput) }
            if last {
                saved.release(pool)
                output = nil
            }
            if g !== dy { pool.give(g) }
            g = next
        }
        if let downsample {
            let ds = try downsample.backward(dy, input: input.tensor(pool), pool: pool)!
            Elementwise.add(g, ds, into: g)
            pool.give(ds)
        } else {
            Elementwise.add(g, dy, into: g)
        }
        self.input = nil
        return g
    }
}
