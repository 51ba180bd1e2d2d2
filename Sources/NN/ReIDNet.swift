// ReIDNet: the Siamese re-ID network, one ResNet backbone and head shared by every image
// of the batch, with its ParameterStore. `images: (N, H, W, 3) -> ReIDOutput`; the
// metric losses compare rows of the same forward pass, so there is one set of weights.
// With a classification head (`HeadConfig.task`) it is torchvision's ResNet classifier.
import Tensors

public final class ReIDNet {
    public let architecture: ResNetArchitecture
    public let headConfig: HeadConfig
    public let store: ParameterStore
    public let backbone: ResNet
    public let head: NetworkHead
    /// Gradients in backward and activations in inference come from here.
    public let pool = TensorPool()

    /// Builds the network, lays out its store and initializes it from `seed` as PyTorch
    /// would (Kaiming normal convolutions, unit BN, small-normal re-ID classifier or
    /// nn.Linear's uniform `fc`).
    /// `zeroInitResidual` starts each block's last BN scale at zero (torchvision's option),
    /// which lets deep bottleneck networks train from scratch.
    public init(architecture: ResNetArchitecture, head: HeadConfig, seed: UInt64 = 0, zeroInitResidual: Bool = false) throws {
        try architecture.validate()
        self.architecture = architecture
        self.headConfig = head
        store = ParameterStore()
        backbone = ResNet(store: store, architecture: architecture)
        switch head.task {
        case .reid:
            self.head = ReIDHead(store: store, inputDim: architecture.featureDim, config: head)
        case .classification:
            guard head.numClasses >= 1 && !head.bnneck && head.embeddingDim == 0 else {
                throw ArchitectureError("a classification head needs at least one class and no BNNeck or embedding, "
                                  + "got \(head.numClasses) classes")
            }
            self.head = ClassificationHead(store: store, inputDim: architecture.featureDim, numClasses: head.numClasses)
        }
        store.allocate()
        var rng = SeededRandom(seed: seed)
        backbone.initialize(&rng, zeroInitResidual: zeroInitResidual)
        self.head.initialize(&rng)
        store.parametersChanged()
    }

    /// images: (N, H, W, 3) normalized -> features, embeddings and (training) logits.
    public func forward(_ images: Tensor, mode: Mode) throws -> ReIDOutput {
        pool.serving(mode)
        let map = try backbone.forward(images, mode: mode, pool: pool)
        let out = try head.forward(map, mode: mode)
        if mode == .inference { pool.give(map) }
        return out
    }

    /// The arithmetic of every convolution and linear layer (BN, losses, parameters and
    /// gradients stay f32). Check `Precision.requireSupported` before choosing `.bf16`.
    public var precision: Precision = .fp32 {
        didSet {
            backbone.precision = precision
            head.precision = precision
        }
    }

    /// Sums batch statistics over every rank (SyncBN) when set; nil computes them per rank.
    public func setStatisticsReducer(_ reducer: StatisticsReducer?) {
        for u in backbone.units { u.statisticsReducer = reducer }
        head.statisticsReducer = reducer
    }

    /// Writes every parameter gradient from the loss gradients of the last training
    /// forward (each may be nil; the given tensors are overwritten).
    public func backward(dFeatures: Tensor?, dEmbeddings: Tensor? = nil, dLogits: Tensor?) throws {
        let dMap = try head.backward(dFeatures: dFeatures, dEmbeddings: dEmbeddings, dLogits: dLogits, pool: pool)
        try backbone.backward(dMap, pool: pool)
        pool.give(dMap)
    }
}
