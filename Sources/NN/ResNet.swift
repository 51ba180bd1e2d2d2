// ResNet: the torchvision-structured backbone (7x7 stem, max pooling, four stages of
// residual blocks) without its classifier, `x: (N, H, W, 3) -> (N, H/32, W/32, D)`
// (H/16 with last stride 1). Parameter names are torchvision's.
import Tensors

public final class ResNet {
    public let architecture: ResNetArchitecture
    public let stem: ConvBN
    public let blocks: [[ResidualBlock]]
    /// The last training forward's images (the caller's) and max-pooled stem output (from
    /// the pool, the first block's input, released by backward).
    private var images: Tensor?
    private var pooled: SavedActivation?
    /// Max-pooling argmax positions: training keeps its own for backward.
    private var trainingWorkspace: AlignedBuffer?
    private var trainingGeometry: PoolGeometry?
    private var inferenceWorkspace: AlignedBuffer?
    /// The last-level cache size inference schedules micro-batches for (`InferenceSchedule`).
    public var inferenceCacheBytes = CPUCache.lastLevelBytes

    public init(store: ParameterStore, architecture: ResNetArchitecture) {
        self.architecture = architecture
        stem = ConvBN(store: store, conv: "conv1", bn: "bn1", inChannels: 3, outChannels: architecture.stemWidth,
                      kernel: 7, stride: 2, padding: 3, relu: true)
        stem.needsInputGradient = false
        // The stem's convolution output is the largest activation; its convolution is cheap.
        stem.recomputesConvolution = true
        var stages: [[ResidualBlock]] = []
        for (s, stage) in architecture.stages.enumerated() {
            stages.append(stage.blocks.enumerated().map { b, spec in
                ResidualBlock(store: store, prefix: "layer\(s + 1).\(b)", kind: architecture.block,
                              inChannels: architecture.blockInput(stage: s, block: b), spec: spec, width: stage.width)
            })
        }
        blocks = stages
    }

    /// The arithmetic of every convolution. In bf16, training also rounds the pooled stem
    /// output and each block's output to bfloat16 and keeps them packed until backward.
    public var precision = Precision.fp32 {
        didSet {
            stem.precision = precision
            for block in blocks.joined() { block.precision = precision }
        }
    }

    /// Every ConvBN unit in forward order (stem first).
    public var units: [ConvBN] { [stem] + blocks.flatMap { $0.flatMap(\.allUnits) } }

    /// Zero-initializes the last BN scale of each block when asked (torchvision's
    /// zero_init_residual); everything else as PyTorch initializes it.
    public func initialize(_ rng: inout SeededRandom, zeroInitResidual: Bool = false) {
        stem.initialize(&rng)
        for stage in blocks {
            for block in stage {
                for (i, u) in block.units.enumerated() {
                    u.initialize(&rng, zeroGamma: zeroInitResidual && i == block.units.count - 1)
                }
                block.downsample?.initialize(&rng)
            }
        }
    }

    /// images: (N, H, W, 3) -> feature map (N, H', W', D), from `pool`. In training it
    /// belongs to the last block until backward; in inference the caller gives it back.
    public func forward(_ images: Tensor, mode: Mode, pool: TensorPool) throws -> Tensor {
        require(images.layout == .nhwc && images.shape.count == 4 && images.shape[3] == 3,
                     "ResNet.forward: expected images (N, H, W, 3) in nhwc, got \(images.layout) \(images.shape)")
        if mode == .inference { return infer(images, pool: pool) }
        // The stem's output goes to max pooling only (whose backward needs its argmax, not
        // its input): it is given back at once in both modes.
        let s = try stem.forward(images, mode: mode, pool: pool)
        let g = PoolGeometry(batch: s.shape[0], height: s.shape[1], width: s.shape[2], channels: s.shape[3])
        let bytes = Pooling.workspaceBytes(g)
        if trainingWorkspace == nil || trainingWorkspace!.byteCount < bytes { trainingWorkspace = AlignedBuffer(byteCount: bytes) }
        trainingGeometry = g
        pooled?.release(pool)
        let h = pool.take(g.outputShape, .nhwc)
        Pooling.maxForward(g, x: s, y: h, workspace: trainingWorkspace!)
        pool.give(s)
        self.images = images
        var a = SavedActivation(pooled: h)
        if precision == .bf16 { a.roundKeepingPackedCopy(pool) }
        pooled = a
        for block in blocks.joined() { a = try block.forwardTraining(a, pool: pool) }
        return a.tensor(pool)
    }

    /// Inference, images: (N, H, W, 3) -> (N, H', W', D) from `pool`, by the architecture's
    /// `InferenceSchedule`: the stem and the first blocks on micro-batches when their
    /// activations at the whole batch would not fit in the last-level cache. Observed
    /// units (importance criteria) see the whole batch at once.
    func infer(_ images: Tensor, pool: TensorPool) -> Tensor {
        // In bf16 the blocks pass bfloat16 activations from one convolution to the next
        // (the residual stream too, as bf16 kernels' outputs are): no conversion between
        // them, half the bytes moved. Observers read float32, so they keep the float path.
        let blocksObserved = blocks.joined().contains { $0.isObserved }
        let observed = blocksObserved || stem.onForward != nil
        let bf16 = precision == .bf16 && !blocksObserved
        let all = Array(blocks.joined())
        let n = images.shape[0]
        let schedule = observed ? .whole(n) : InferenceSchedule(architecture: architecture, batch: n, height: images.shape[1],
                                                                 width: images.shape[2], valueBytes: bf16 ? 2 : 4,
                                                                 cacheBytes: inferenceCacheBytes)
        var h: Tensor
        if schedule.earlyBlocks > 0 {
            // Each micro-batch's output lands in its place in the whole batch's tensor: the
            // last early block with a downsample writes that downsample's output there, and
            // the blocks after it add into it in place. Without such a block (basic blocks
            // of the first stage), the micro-batch's output is copied there.
            let early = all[0..<schedule.earlyBlocks]
            let direct = early.lastIndex { $0.downsample != nil }
            let perImage = images.count / n
            let valueBytes = bf16 ? 2 : 4
            var whole: Tensor?
            var start = 0
            // The micro-batch's rows [start, start + shape[0]) of the whole batch's output.
            func place(_ shape: [Int]) -> Tensor {
                if whole == nil { whole = pool.take([n] + shape.dropFirst(), .nhwc) }
                let offset = start * (whole!.count / n) * valueBytes
                return Tensor(viewing: UnsafeMutableRawPointer(whole!.data).advanced(by: offset)
                                .assumingMemoryBound(to: Float.self),
                              shape: shape, layout: .nhwc, keeping: whole!)
            }
            for size in schedule.chunks {
                let view = Tensor(viewing: images.data + start * perImage, shape: [size] + images.shape.dropFirst(),
                                  layout: .nhwc, keeping: images)
                var x = inferStem(view, pool: pool, bf16: bf16)
                if let d = direct {
                    x = inferBlocks(early[..<d], on: x, pool: pool, bf16: bf16)
                    let out = early[d].infer(x, pool: pool, output: place(early[d].outputShape(forInput: x.shape)),
                                             bf16Activations: bf16)
                    pool.give(x)
                    // Blocks without a downsample return their input, summed into in place.
                    x = inferBlocks(early[(d + 1)...], on: out, pool: pool, bf16: bf16)
                    require(x === out, "micro-batch: a block after the last downsample did not write in place")
                } else {
                    let part = inferBlocks(early[...], on: x, pool: pool, bf16: bf16)
                    let target = place(part.shape)
                    UnsafeMutableRawPointer(target.data)
                        .copyMemory(from: UnsafeRawPointer(part.data), byteCount: part.count * valueBytes)
                    pool.give(part)
                }
                start += size
            }
            h = inferBlocks(all[schedule.earlyBlocks...], on: whole!, pool: pool, bf16: bf16)
        } else {
            h = inferBlocks(all[...], on: inferStem(images, pool: pool, bf16: bf16), pool: pool, bf16: bf16)
        }
        return bf16 ? converted(h, toBF16: false, pool: pool) : h
    }

    /// x's values as bfloat16 (packed) or back as float32, in a pool tensor of x's shape;
    /// x is given back.
    private func converted(_ x: Tensor, toBF16: Bool, pool: TensorPool) -> Tensor {
        let y = pool.take(x.shape, .nhwc)
        if toBF16 { BF16Pack.pack(x, into: y) } else { BF16Pack.expand(x, into: y) }
        pool.give(x)
        return y
    }

    /// The stem and max pooling of inference; bfloat16 values out with `bf16`.
    private func inferStem(_ images: Tensor, pool: TensorPool, bf16: Bool) -> Tensor {
        let s = stem.infer(images, pool: pool, into: nil)
        let g = PoolGeometry(batch: s.shape[0], height: s.shape[1], width: s.shape[2], channels: s.shape[3])
        let bytes = Pooling.workspaceBytes(g)
        if inferenceWorkspace == nil || inferenceWorkspace!.byteCount < bytes {
            inferenceWorkspace = AlignedBuffer(byteCount: bytes)
        }
        let h = pool.take(g.outputShape, .nhwc)
        Pooling.maxForward(g, x: s, y: h, workspace: inferenceWorkspace!)
        pool.give(s)
        return bf16 ? converted(h, toBF16: true, pool: pool) : h
    }

    private func inferBlocks(_ run: ArraySlice<ResidualBlock>, on x: Tensor, pool: TensorPool, bf16: Bool) -> Tensor {
        var h = x
        for block in run {
            let next = block.infer(h, pool: pool, bf16Activations: bf16)
            if next !== h { pool.give(h) }
            h = next
        }
        return h
    }

    /// dMap: gradient of the feature map (overwritten). Writes every parameter gradient.
    public func backward(_ dMap: Tensor, pool: TensorPool) throws {
        var g = dMap
        for stage in blocks.reversed() {
            for block in stage.reversed() {
                let next = try block.backward(g, pool: pool)
                if g !== dMap { pool.give(g) }
                g = next
            }
        }
        guard let pg = trainingGeometry, let images, let pooled else { fatalError("ResNet.backward without a training forward") }
        let ds = pool.take(pg.inputShape, .nhwc)
        Pooling.maxBackward(pg, dy: g, workspace: trainingWorkspace!, dx: ds)
        if g !== dMap { pool.give(g) }
        pooled.release(pool)
        self.pooled = nil
        self.images = nil
        _ = try stem.backward(ds, input: images, pool: pool)
        pool.give(ds)
    }
}
