// ResidualBlock: torchvision's BasicBlock (3x3, 3x3) or Bottleneck (1x1, 3x3 with the
// stride, 1x1) with an optional 1x1 downsample, `x: (N, H, W, C) -> (N, H', W', K)`,
// output relu(branch + shortcut). The sum is written into the last unit's BN output,
// which its backward does not need.
import Tensors

public final class ResidualBlock {
    public let units: [ConvBN]
    public let downsample: ConvBN?
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

    /// x: (N, H, W, C) -> (N, H', W', K). In inference the output comes from `pool`
    /// (the caller gives it back, and gives back x when done with it).
    public func forward(_ x: Tensor, mode: Mode, pool: TensorPool) throws -> Tensor {
        if mode == .inference { return infer(x, pool: pool) }
        var h = x
        for u in units {
            let next = try u.forward(h, mode: mode, pool: pool)
            if mode == .inference && h !== x { pool.give(h) }
            h = next
        }
        let shortcut = try downsample?.forward(x, mode: mode, pool: pool) ?? x
        require(h.shape == shortcut.shape,
                     "\(units[0].convName): branch \(h.shape) and shortcut \(shortcut.shape) differ")
        Elementwise.add(h, shortcut, into: h, relu: true)
        if mode == .inference && shortcut !== x { pool.give(shortcut) }
        if mode == .training { output = h }
        return h
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

    /// dy: gradient of the block output; it is overwritten. Returns dx from the pool.
    public func backward(_ dy: Tensor, pool: TensorPool) throws -> Tensor {
        guard let output else { fatalError("\(units[0].convName): backward without forward") }
        Elementwise.reluBackward(y: output, dy: dy, dx: dy)
        var g = dy
        for u in units.reversed() {
            let next = try u.backward(g, pool: pool)!
            if g !== dy { pool.give(g) }
            g = next
        }
        if let downsample {
            let ds = try downsample.backward(dy, pool: pool)!
            Elementwise.add(g, ds, into: g)
            pool.give(ds)
        } else {
            Elementwise.add(g, dy, into: g)
        }
        return g
    }
}
