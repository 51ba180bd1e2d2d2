// ConvBN: a convolution without bias followed by batch normalization and optionally
// ReLU (fused into the BN kernel), the unit every ResNet layer is made of.
// `x: (N, H, W, C) -> y: (N, H', W', K)`. Parameters use torchvision's names:
// `<conv>.weight`, `<bn>.weight`, `<bn>.bias`, `<bn>.running_mean`, ...
import Tensors

public final class ConvBN {
    public let convName: String
    public let bnName: String
    public private(set) var inChannels: Int
    public private(set) var outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let relu: Bool
    /// When false, backward skips the input gradient (the stem's input is the image).
    public var needsInputGradient = true
    /// When true, training keeps no convolution output: backward computes it again from
    /// the input (the same primitive, so bit for bit), one more forward convolution for
    /// its memory (the stem's: 64 MB of ResNet-50's at 256x128, batch 32, for about 1% of
    /// the step).
    public var recomputesConvolution = false
    /// The convolution's arithmetic (training and inference); BN stays f32.
    public var precision = Precision.fp32

    let store: ParameterStore
    let weight: Int, gamma: Int, beta: Int
    let runningMean: Int, runningVariance: Int, batchCount: Int
    /// BN momentum as PyTorch defines it (weight of the new batch statistic).
    public var momentum: Float = 0.1
    public var epsilon: Float = 1e-5

    /// The convolution output of the last training forward (from the pool; backward gives
    /// it back): with the batch statistics, all that backward needs besides the input.
    private var convOut: Tensor?
    /// In bf16 the kernel writes the convolution output in bfloat16, packed in half the
    /// memory (`BF16Pack`, from the pool), and keeps it instead of `convOut`; BN reads it
    /// expanded, and backward expands it again, exactly.
    private var packedConvOut: Tensor?
    private let norm: TrainingNorm
    private var geometry: ConvGeometry?
    private var bnGeometry: BatchNormGeometry?
    /// Observers for data-driven pruning criteria: the unit's output after each forward,
    /// and (output, gradient of the output) during backward.
    public var onForward: ((Tensor) -> Void)?
    public var onBackward: ((Tensor, Tensor) -> Void)?
    /// When set, batch statistics are summed over every rank (SyncBN).
    public var statisticsReducer: StatisticsReducer? {
        get { norm.reducer }
        set { norm.reducer = newValue }
    }

    public init(store: ParameterStore, conv convName: String, bn bnName: String, inChannels: Int, outChannels: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0, relu: Bool) {
        self.store = store
        self.convName = convName
        self.bnName = bnName
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.relu = relu
        norm = TrainingNorm(relu: relu)
        weight = store.register("\(convName).weight", shape: [outChannels, inChannels, kernel, kernel], layout: .oihw,
                                role: .convWeight)
        gamma = store.register("\(bnName).weight", shape: [outChannels], layout: .x, role: .normWeight)
        beta = store.register("\(bnName).bias", shape: [outChannels], layout: .x, role: .normBias)
        runningMean = store.registerBuffer("\(bnName).running_mean", shape: [outChannels], role: .runningMean)
        runningVariance = store.registerBuffer("\(bnName).running_var", shape: [outChannels], role: .runningVariance)
        batchCount = store.registerBuffer("\(bnName).num_batches_tracked", shape: [], role: .batchCount)
    }

    /// Parameter indices: conv weight, BN scale, BN shift.
    public var parameterIndices: (weight: Int, gamma: Int, beta: Int) { (weight, gamma, beta) }
    public var bufferIndices: (mean: Int, variance: Int, count: Int) { (runningMean, runningVariance, batchCount) }

    /// PyTorch's initialization: Kaiming normal (fan out, ReLU gain) for the weight, BN
    /// scale 1 and shift 0, running mean 0 and variance 1.
    public func initialize(_ rng: inout SeededRandom, zeroGamma: Bool = false) {
        let w = store.parameter(weight)
        let std = (2.0 / Double(outChannels * kernel * kernel)).squareRoot()
        for i in 0..<w.count { w[i] = Float(rng.normal() * std) }
        store.parameter(gamma).fill(zeroGamma ? 0 : 1)
        store.parameter(beta).fill(0)
        store.buffer(runningMean).fill(0)
        store.buffer(runningVariance).fill(1)
        store.buffer(batchCount).fill(0)
    }

    /// Output spatial size for an input size.
    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ResNetArchitecture.outputSize(h, w, kernel: kernel, stride: stride, padding: padding)
    }

    /// x: (N, H, W, C) -> (N, H', W', K), from `pool` in both modes: the caller gives it
    /// back when done with it. Training is `forwardTraining` without a destination.
    public func forward(_ x: Tensor, mode: Mode, pool: TensorPool) throws -> Tensor {
        switch mode {
        case .training: return try forwardTraining(x, pool: pool)
        case .inference: return infer(x, pool: pool, into: nil)
        }
    }

    /// Training forward, x: (N, H, W, C) -> y: (N, H', W', K), written into `output` when
    /// given, else into a pool tensor the caller gives back. The unit keeps only its
    /// convolution output (taken from the pool until backward) and the batch statistics:
    /// backward gets x from the caller, and `recomputeOutput` writes y again when needed.
    public func forwardTraining(_ x: Tensor, pool: TensorPool, into output: Tensor? = nil) throws -> Tensor {
        var g = ConvGeometry(batch: x.shape[0], inChannels: inChannels, height: x.shape[1], width: x.shape[2],
                             outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
        g.precision = precision
        require(x.shape == g.inputShape, "\(convName): input \(x.shape) does not match \(g.inputShape)")
        let bg = BatchNormGeometry(batch: g.batch, height: g.outHeight, width: g.outWidth, channels: outChannels,
                                   epsilon: epsilon, fuseReLU: relu)
        geometry = g
        bnGeometry = bg
        // A second forward without backward in between (forward-only passes) reuses the memory.
        releaseSaved(pool)
        let c = pool.take(g.outputShape, .nhwc)
        if precision == .bf16 && !recomputesConvolution {
            // The kernel writes the output in bf16, packed; BN reads it expanded.
            var rounded = g
            rounded.bf16Output = true
            let packed = pool.take([BF16Pack.slots(c.count)], .x)
            Convolution.forward(rounded, x: x, weight: store.parameter(weight), packedY: packed)
            BF16Pack.expand(packed, into: c)
            packedConvOut = packed
        } else {
            Convolution.forward(g, x: x, weight: store.parameter(weight), y: c)
            if precision == .bf16 {
                BF16Pack.round(c)
            } else if !recomputesConvolution {
                convOut = c
            }
        }
        let y = output ?? pool.take(g.outputShape, .nhwc)
        try norm.forward(bg, x: c, y: y, gamma: store.parameter(gamma), beta: store.parameter(beta),
                         runningMean: store.buffer(runningMean), runningVariance: store.buffer(runningVariance),
                         batchCount: store.buffer(batchCount), momentum: momentum)
        store.parametersChanged()
        if convOut !== c { pool.give(c) }
        onForward?(y)
        return y
    }

    /// Gives back what the last training forward kept for backward.
    private func releaseSaved(_ pool: TensorPool) {
        if let old = convOut { pool.give(old) }
        if let old = packedConvOut { pool.give(old) }
        convOut = nil
        packedConvOut = nil
    }

    /// The kept convolution output as float32 in `convOut`: expanded from its packed
    /// bf16 copy (which goes back to the pool) when that is how it was kept.
    private func unpackConvOutput(_ g: ConvGeometry, pool: TensorPool) {
        guard convOut == nil, let packed = packedConvOut else { return }
        let c = pool.take(g.outputShape, .nhwc)
        BF16Pack.expand(packed, into: c)
        pool.give(packed)
        packedConvOut = nil
        convOut = c
    }

    /// The last training forward's output (N, H', W', K) again, bit for bit, into a pool
    /// tensor the caller gives back: BN (and ReLU) of the kept convolution output with the
    /// batch statistics that forward computed. Valid until backward, and only for a unit
    /// that keeps its convolution output (in bf16 the packed copy is expanded here and
    /// kept as float32 until backward, which needs it next).
    public func recomputeOutput(pool: TensorPool) -> Tensor {
        if let g = geometry { unpackConvOutput(g, pool: pool) }
        guard let g = geometry, let bg = bnGeometry, let c = convOut else {
            fatalError("\(convName): output recomputed without a training forward")
        }
        let y = pool.take(g.outputShape, .nhwc)
        norm.recompute(bg, x: c, y: y, gamma: store.parameter(gamma), beta: store.parameter(beta))
        return y
    }

    private var folded: (version: Int, weight: Tensor, bias: Tensor)?
    /// Folded weights packed for the inference geometries last used (micro-batches of two
    /// sizes and the whole batch run in turn), for the store version they were packed at.
    private var packed: (version: Int, weights: [Convolution.PackedWeights]) = (-1, [])

    /// The convolution with BN folded in: w' = w gamma / sigma, b' = beta - mu gamma / sigma
    /// (recomputed only when the store changed). weight: (K, C, kh, kw) OIHW, bias: (K).
    public func foldedParameters() -> (weight: Tensor, bias: Tensor) {
        if let f = folded, f.version == store.version { return (f.weight, f.bias) }
        let w = store.parameter(weight), g = store.parameter(gamma), b = store.parameter(beta)
        let m = store.buffer(runningMean), v = store.buffer(runningVariance)
        let fw = folded?.weight.shape == w.shape ? folded!.weight : Tensor(shape: w.shape, layout: .oihw)
        let fb = folded?.bias.count == outChannels ? folded!.bias : Tensor(shape: [outChannels], layout: .x)
        let per = w.count / outChannels
        for k in 0..<outChannels {
            let scale = g[k] / (v[k] + epsilon).squareRoot()
            for t in 0..<per { fw[k * per + t] = w[k * per + t] * scale }
            fb[k] = b[k] - m[k] * scale
        }
        folded = (store.version, fw, fb)
        return (fw, fb)
    }

    /// The shape inference writes for an input of `shape` (N, H, W, C).
    public func outputShape(forInput shape: [Int]) -> [Int] { inferenceGeometry(shape).outputShape }

    private func inferenceGeometry(_ shape: [Int]) -> ConvGeometry {
        ConvGeometry(batch: shape[0], inChannels: inChannels, height: shape[1], width: shape[2],
                     outChannels: outChannels, kernel: kernel, stride: stride, padding: padding, bias: true)
    }

    /// Inference: one convolution with BN folded in and ReLU fused; with `into`, the
    /// result is added to `into`'s values before the ReLU (the residual addition) and
    /// written there. The output comes from `pool` unless `into` or `output` (written
    /// over, of `outputShape(forInput:)`) is given. With `bf16Activations` (bf16
    /// precision), x, `into` and the output hold bfloat16 values
    /// (`ConvGeometry.bf16Activations`).
    public func infer(_ x: Tensor, pool: TensorPool, into shortcut: Tensor?, output: Tensor? = nil,
                      bf16Activations: Bool = false) -> Tensor {
        var g = inferenceGeometry(x.shape)
        g.postOps = shortcut != nil ? .sumRelu : (relu ? .relu : .none)
        g.precision = precision
        g.bf16Activations = bf16Activations
        require(x.shape == g.inputShape, "\(convName): input \(x.shape) does not match \(g.inputShape)")
        let (w, b) = foldedParameters()
        if packed.version != store.version { packed = (store.version, []) }
        let weights: Convolution.PackedWeights
        if let known = packed.weights.first(where: { $0.geometry == g }) {
            weights = known
        } else {
            weights = Convolution.pack(g, weight: w)
            packed.weights = packed.weights.suffix(2) + [weights]
        }
        let y = shortcut ?? output ?? pool.take(g.outputShape, .nhwc)
        Convolution.forward(g, x: x, packed: weights, bias: b, y: y)
        onForward?(y)
        return y
    }

    /// dy: (N, H', W', K), the gradient of this unit's output (of the ReLU when fused);
    /// x: the last training forward's input; output: its output when the caller has it
    /// (what `onBackward` sees; recomputed when nil and needed). Writes the parameter
    /// gradients, gives the kept convolution output back to the pool and returns dx from
    /// the pool (nil when the input gradient is not needed). dy is left unchanged.
    public func backward(_ dy: Tensor, input x: Tensor, output: Tensor? = nil, pool: TensorPool) throws -> Tensor? {
        guard let g = geometry, let bg = bnGeometry, convOut != nil || packedConvOut != nil || recomputesConvolution else {
            fatalError("\(convName): backward without a training forward")
        }
        require(x.shape == g.inputShape, "\(convName): backward input \(x.shape) does not match \(g.inputShape)")
        unpackConvOutput(g, pool: pool)
        if convOut == nil {
            let t = pool.take(g.outputShape, .nhwc)
            Convolution.forward(g, x: x, weight: store.parameter(weight), y: t)
            if precision == .bf16 { BF16Pack.round(t) }
            convOut = t
        }
        let c = convOut!
        var y = output
        if y == nil && (onBackward != nil || norm.backwardReadsOutput) { y = recomputeOutput(pool: pool) }
        if let y { onBackward?(y, dy) }
        let dc = pool.take(g.outputShape, .nhwc)
        try norm.backward(bg, x: c, y: y, dy: dy, gamma: store.parameter(gamma), beta: store.parameter(beta),
                          dx: dc, dGamma: store.gradient(gamma), dBeta: store.gradient(beta))
        if output == nil, let y { pool.give(y) }
        store.gradientReady(gamma)
        store.gradientReady(beta)
        pool.give(c)
        convOut = nil
        let dx = needsInputGradient ? pool.take(g.inputShape, .nhwc) : nil
        Convolution.backward(g, x: x, dy: dc, weight: store.parameter(weight), dWeight: store.gradient(weight), dx: dx) {
            store.gradientReady(weight)
        }
        pool.give(dc)
        return dx
    }

    /// Multiply-accumulates of the convolution for an input of (H, W), per image.
    public func macs(_ h: Int, _ w: Int) -> Int {
        let (oh, ow) = outputSize(h, w)
        return oh * ow * outChannels * inChannels * kernel * kernel
    }
}
