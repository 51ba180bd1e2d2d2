// ResNet: the torchvision-structured backbone (7x7 stem, max pooling, four stages of
// residual blocks) without its classifier, `x: (N, H, W, 3) -> (N, H/32, W/32, D)`
// (H/16 with last stride 1). Parameter names are torchvision's.
import Tensors

public final class ResNet {
    public let architecture: ResNetArchitecture
    public let stem: ConvBN
    public let blocks: [[ResidualBlock]]
    private var pooled = ActivationSlot()
    private var poolWorkspace: AlignedBuffer?
    private var poolGeometry: PoolGeometry?

    public init(store: ParameterStore, architecture: ResNetArchitecture) {
        self.architecture = architecture
        stem = ConvBN(store: store, conv: "conv1", bn: "bn1", inChannels: 3, outChannels: architecture.stemWidth,
                      kernel: 7, stride: 2, padding: 3, relu: true)
        stem.needsInputGradient = false
        var stages: [[ResidualBlock]] = []
        for (s, stage) in architecture.stages.enumerated() {
            stages.append(stage.blocks.enumerated().map { b, spec in
                ResidualBlock(store: store, prefix: "layer\(s + 1).\(b)", kind: architecture.block,
                              inChannels: architecture.blockInput(stage: s, block: b), spec: spec, width: stage.width)
            })
        }
        blocks = stages
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

    /// images: (N, H, W, 3) -> feature map (N, H', W', D), owned by the last block.
    public func forward(_ images: Tensor, mode: Mode) -> Tensor {
        precondition(images.layout == .nhwc && images.shape.count == 4 && images.shape[3] == 3,
                     "ResNet.forward: expected images (N, H, W, 3) in nhwc, got \(images.layout) \(images.shape)")
        let s = stem.forward(images, mode: mode)
        let g = PoolGeometry(batch: s.shape[0], height: s.shape[1], width: s.shape[2], channels: s.shape[3])
        if poolGeometry != g {
            poolGeometry = g
            poolWorkspace = Pooling.makeWorkspace(g)
        }
        var h = pooled.get(g.outputShape, .nhwc)
        Pooling.maxForward(g, x: s, y: h, workspace: poolWorkspace!)
        for stage in blocks {
            for block in stage { h = block.forward(h, mode: mode) }
        }
        return h
    }

    /// dMap: gradient of the feature map (overwritten). Writes every parameter gradient.
    public func backward(_ dMap: Tensor, pool: GradientPool) {
        var g = dMap
        for stage in blocks.reversed() {
            for block in stage.reversed() {
                let next = block.backward(g, pool: pool)
                if g !== dMap { pool.give(g) }
                g = next
            }
        }
        let pg = poolGeometry!
        let ds = pool.take(pg.inputShape, .nhwc)
        Pooling.maxBackward(pg, dy: g, workspace: poolWorkspace!, dx: ds)
        if g !== dMap { pool.give(g) }
        _ = stem.backward(ds, pool: pool)
        pool.give(ds)
    }
}
