// ReIDHead: the re-identification head on a backbone feature map: global average
// pooling, an optional linear embedding, an optional BNNeck (BN whose shift is frozen at
// zero) and a bias-free linear identity classifier used only in training.
// map: (N, H, W, C) -> features f: (N, D) (for metric losses), embeddings: (N, D) (after
// BNNeck, used at test time), logits: (N, classes).
import Tensors

/// What the head gives: all tensors belong to the head until its next forward.
public struct ReIDOutput {
    /// (N, D) before BNNeck: the triplet and contrastive losses use these.
    public let features: Tensor
    /// (N, D) after BNNeck (or the features without BNNeck): the test-time descriptor.
    public let embeddings: Tensor
    /// (N, classes) when the head has a classifier.
    public let logits: Tensor?
}

public final class ReIDHead: NetworkHead {
    public let config: HeadConfig
    public private(set) var inputDim: Int
    public var outputDim: Int { config.embeddingDim > 0 ? config.embeddingDim : inputDim }
    let store: ParameterStore
    let embeddingWeight: Int?, embeddingBias: Int?
    let neckGamma: Int?, neckBeta: Int?
    let neckMean: Int?, neckVariance: Int?, neckCount: Int?
    let classifier: Int?
    public var momentum: Float = 0.1
    public var epsilon: Float = 1e-5
    /// The embedding's and classifier's arithmetic; BNNeck stays f32.
    public var precision = Precision.fp32

    private var pooled = ActivationSlot(), features = ActivationSlot(), embeddings = ActivationSlot()
    private var logits = ActivationSlot()
    private let neck = TrainingNorm(relu: false)
    private var mapShape: [Int] = []
    /// When set, BNNeck's batch statistics are summed over every rank (SyncBN).
    public var statisticsReducer: StatisticsReducer? {
        get { neck.reducer }
        set { neck.reducer = newValue }
    }

    public init(store: ParameterStore, inputDim: Int, config: HeadConfig) {
        self.store = store
        self.inputDim = inputDim
        self.config = config
        let d = config.embeddingDim > 0 ? config.embeddingDim : inputDim
        if config.embeddingDim > 0 {
            embeddingWeight = store.register("embedding.weight", shape: [d, inputDim], layout: .nc, role: .linearWeight)
            embeddingBias = store.register("embedding.bias", shape: [d], layout: .x, role: .bias)
        } else {
            embeddingWeight = nil
            embeddingBias = nil
        }
        if config.bnneck {
            neckGamma = store.register("bnneck.weight", shape: [d], layout: .x, role: .normWeight)
            neckBeta = store.register("bnneck.bias", shape: [d], layout: .x, role: .normBias, trainable: false)
            neckMean = store.registerBuffer("bnneck.running_mean", shape: [d], role: .runningMean)
            neckVariance = store.registerBuffer("bnneck.running_var", shape: [d], role: .runningVariance)
            neckCount = store.registerBuffer("bnneck.num_batches_tracked", shape: [], role: .batchCount)
        } else {
            (neckGamma, neckBeta, neckMean, neckVariance, neckCount) = (nil, nil, nil, nil, nil)
        }
        classifier = config.numClasses > 0
            ? store.register("classifier.weight", shape: [config.numClasses, d], layout: .nc, role: .linearWeight)
            : nil
    }

    /// Embedding: Kaiming normal (fan out), bias 0; BNNeck scale 1, shift 0; classifier
    /// normal with std 0.001 (as torchreid and fast-reid initialize it).
    public func initialize(_ rng: inout SeededRandom) {
        if let w = embeddingWeight, let b = embeddingBias {
            let t = store.parameter(w)
            let std = (2.0 / Double(outputDim)).squareRoot()
            for i in 0..<t.count { t[i] = Float(rng.normal() * std) }
            store.parameter(b).zero()
        }
        if let g = neckGamma, let b = neckBeta {
            store.parameter(g).fill(1)
            store.parameter(b).zero()
            store.buffer(neckMean!).zero()
            store.buffer(neckVariance!).fill(1)
            store.buffer(neckCount!).zero()
        }
        if let c = classifier {
            let t = store.parameter(c)
            for i in 0..<t.count { t[i] = Float(rng.normal() * 0.001) }
        }
    }

    private func neckGeometry(_ n: Int) -> BatchNormGeometry {
        BatchNormGeometry(batch: n, height: 1, width: 1, channels: outputDim, epsilon: epsilon)
    }

    /// map: (N, H, W, C) -> features, embeddings, logits.
    public func forward(_ map: Tensor, mode: Mode) throws -> ReIDOutput {
        require(map.layout == .nhwc && map.shape[3] == inputDim,
                     "ReIDHead.forward: expected (N, H, W, \(inputDim)), got \(map.shape)")
        let n = map.shape[0], d = outputDim
        mapShape = map.shape
        let p = pooled.get([n, inputDim], .nc)
        Pooling.globalAverageForward(x: map, y: p)
        var f = p
        if let w = embeddingWeight, let b = embeddingBias {
            f = features.get([n, d], .nc)
            Linear.forward(x: p, weight: store.parameter(w), bias: store.parameter(b), y: f, precision: precision)
        }
        var e = f
        if let g = neckGamma, let b = neckBeta {
            e = embeddings.get([n, d], .nc)
            let bg = neckGeometry(n)
            let f4 = f.reshaped(bg.shape, layout: .nhwc), e4 = e.reshaped(bg.shape, layout: .nhwc)
            switch mode {
            case .training:
                try neck.forward(bg, x: f4, y: e4, gamma: store.parameter(g), beta: store.parameter(b),
                                 runningMean: store.buffer(neckMean!), runningVariance: store.buffer(neckVariance!),
                                 batchCount: store.buffer(neckCount!), momentum: momentum)
            case .inference:
                BatchNorm.forwardInference(bg, x: f4, gamma: store.parameter(g), beta: store.parameter(b),
                                           runningMean: store.buffer(neckMean!),
                                           runningVariance: store.buffer(neckVariance!), y: e4)
            }
        }
        var l: Tensor?
        if let c = classifier, mode == .training {
            let t = logits.get([n, config.numClasses], .nc)
            Linear.forward(x: e, weight: store.parameter(c), bias: nil, y: t, precision: precision)
            l = t
        }
        return ReIDOutput(features: f, embeddings: e, logits: l)
    }

    /// Gradients of the losses with respect to features, embeddings and logits (any may
    /// be nil; the given tensors are overwritten) -> gradient of the feature map, from the pool.
    public func backward(dFeatures: Tensor?, dEmbeddings: Tensor?, dLogits: Tensor?, pool: TensorPool) throws -> Tensor {
        let n = mapShape[0], d = outputDim
        let p = pooled.tensor!
        let f = embeddingWeight != nil ? features.tensor! : p
        let e = neckGamma != nil ? embeddings.tensor! : f
        // Gradient at the embeddings: dEmbeddings plus the classifier's input gradient.
        let de = pool.take([n, d], .nc)
        if let dEmbeddings { de.copy(from: dEmbeddings) } else { de.zero() }
        if let c = classifier, let dLogits {
            Linear.backwardWeights(x: e, dy: dLogits, dWeight: store.gradient(c), dBias: nil, precision: precision)
            let t = pool.take([n, d], .nc)
            Linear.backwardData(dy: dLogits, weight: store.parameter(c), dx: t, precision: precision)
            Elementwise.add(de, t, into: de)
            pool.give(t)
        } else if let c = classifier {
            store.gradient(c).zero()
        }
        if let c = classifier { store.gradientReady(c) }
        // Through BNNeck to the features.
        var df = de
        if let g = neckGamma, let b = neckBeta {
            let bg = neckGeometry(n)
            df = pool.take([n, d], .nc)
            let shape = bg.shape
            try neck.backward(bg, x: f.reshaped(shape, layout: .nhwc), y: e.reshaped(shape, layout: .nhwc),
                              dy: de.reshaped(shape, layout: .nhwc), gamma: store.parameter(g), beta: store.parameter(b),
                              dx: df.reshaped(shape, layout: .nhwc), dGamma: store.gradient(g), dBeta: store.gradient(b))
            store.gradient(b).zero()
            store.gradientReady(g)
            store.gradientReady(b)
            pool.give(de)
        }
        if let dFeatures { Elementwise.add(df, dFeatures, into: df) }
        // Through the embedding to the pooled features.
        var dp = df
        if let w = embeddingWeight, let b = embeddingBias {
            dp = pool.take([n, inputDim], .nc)
            Linear.backwardWeights(x: p, dy: df, dWeight: store.gradient(w), dBias: store.gradient(b),
                                   precision: precision)
            store.gradientReady(w)
            store.gradientReady(b)
            Linear.backwardData(dy: df, weight: store.parameter(w), dx: dp, precision: precision)
            pool.give(df)
        }
        let dMap = pool.take(mapShape, .nhwc)
        Pooling.globalAverageBackward(dy: dp, dx: dMap)
        pool.give(dp)
        return dMap
    }

    /// Multiply-accumulates per image of the embedding and classifier.
    public func macs(includeClassifier: Bool) -> Int {
        (config.embeddingDim > 0 ? inputDim * outputDim : 0)
            + (includeClassifier && classifier != nil ? outputDim * config.numClasses : 0)
    }
}
