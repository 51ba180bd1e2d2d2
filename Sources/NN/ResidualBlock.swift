// ResidualBlock: torchvision's BasicBlock (3x3, 3x3) or Bottleneck (1x1, 3x3 with the
// stride, 1x1) with an optional 1x1 downsample, `x: (N, H, W, C) -> (N, H', W', K)`,
// output relu(branch + shortcut). Training keeps the block's input and output; the
// units keep their convolution outputs, and the outputs of the inner units (the next
// unit's input) are recomputed during backward instead of kept.
import Tensors

public final class ResidualBlock {
    public let units: [ConvBN]
    public let downsample: ConvBN?
    /// The last training forward's input (owned by the caller) and output (from the pool,
    /// given back by backward).
    private var input: Tensor?
    private var output: Tensor?

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

    /// x: (N, H, W, C) -> (N, H', W', K), from `pool`. In inference the caller gives it
    /// back (and gives back x when done with it); in training the block keeps x and the
    /// output until backward, which gives the output back (x stays the caller's).
    public func forward(_ x: Tensor, mode: Mode, pool: TensorPool) throws -> Tensor {
        if mode == .inference { return infer(x, pool: pool) }
        var h = x
        for u in units.dropLast() {
            let next = try u.forwardTraining(h, pool: pool)
            if h !== x { pool.give(h) }
            h = next
        }
        if let old = output { pool.give(old) }
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
        input = x
        output = out
        return out
    }

    /// Inference: the last convolution adds its result into the shortcut (the downsample's
    /// output, or x itself, which is then the block's output) and applies the ReLU, in
    /// one kernel. The result is x or a pool tensor; the caller gives x back unless it is
    /// the result.
    func infer(_ x: Tensor, pool: TensorPool) -> Tensor {
        var h = x
        for u in units.dropLast() {
            let next = u.infer(h, pool: pool, into: nil)
            if h !== x { pool.give(h) }
            h = next
        }
        let shortcut = downsample?.infer(x, pool: pool, into: nil) ?? x
        let out = units.last!.infer(h, pool: pool, into: shortcut)
        if h !== x { pool.give(h) }
        return out
    }

    /// dy: gradient of the block output; it is overwritten. Returns dx from the pool and
    /// gives the block's output back to it. Each inner unit's output, the input of the
    /// unit after it, is recomputed from its kept convolution output when that unit's
    /// backward needs it, and given back right after.
    public func backward(_ dy: Tensor, pool: TensorPool) throws -> Tensor {
        guard let output, let x = input else { fatalError("\(units[0].convName): backward without forward") }
        Elementwise.reluBackward(y: output, dy: dy, dx: dy)
        var g = dy
        for i in units.indices.reversed() {
            let unitInput = i == 0 ? x : units[i - 1].recomputeOutput(pool: pool)
            // The last unit's observer sees the block output, as it always has.
            let next = try units[i].backward(g, input: unitInput, output: i == units.count - 1 ? output : nil,
                                             pool: pool)!
            if unitInput !== x { pool.give(unitInput) }
            if g !== dy { pool.give(g) }
            g = next
        }
        if let downsample {
            let ds = try downsample.backward(dy, input: x, pool: pool)!
            Elementwise.add(g, ds, into: g)
            pool.give(ds)
        } else {
            Elementwise.add(g, dy, into: g)
        }
        pool.give(output)
        self.output = nil
        input = nil
        return g
    }
}
