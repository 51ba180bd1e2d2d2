// ClassificationHead: torchvision's ResNet classifier on a backbone feature map: global
// average pooling and the linear layer `fc` (weight (classes, C), bias (classes)), named
// as torchvision names it so that its files load into `resnet50(num_classes=classes)`.
// map: (N, H, W, C) -> features = embeddings = pooled (N, C), logits (N, classes).
import Tensors

public final class ClassificationHead: NetworkHead {
    public let inputDim: Int
    public let numClasses: Int
    public var outputDim: Int { inputDim }
    let store: ParameterStore
    let weight: Int, bias: Int
    private var pooled = ActivationSlot(), logits = ActivationSlot()
    private var mapShape: [Int] = []
    /// The arithmetic of `fc`.
    public var precision = Precision.fp32
    /// The head has no batch statistics; kept for the protocol.
    public var statisticsReducer: StatisticsReducer?

    public init(store: ParameterStore, inputDim: Int, numClasses: Int) {
        require(numClasses >= 1, "ClassificationHead: needs at least one class, got \(numClasses)")
        self.store = store
        self.inputDim = inputDim
        self.numClasses = numClasses
        weight = store.register("fc.weight", shape: [numClasses, inputDim], layout: .nc, role: .linearWeight)
        bias = store.register("fc.bias", shape: [numClasses], layout: .x, role: .bias)
    }

    /// As PyTorch initializes nn.Linear: weight and bias uniform in ±1/sqrt(C).
    public func initialize(_ rng: inout SeededRandom) {
        let bound = 1 / Double(inputDim).squareRoot()
        let w = store.parameter(weight), b = store.parameter(bias)
        for i in 0..<w.count { w[i] = Float(rng.uniform(-bound, bound)) }
        for i in 0..<b.count { b[i] = Float(rng.uniform(-bound, bound)) }
    }

    /// map: (N, H, W, C) -> pooled features (N, C) and logits (N, classes), in both modes.
    public func forward(_ map: Tensor, mode: Mode) throws -> ReIDOutput {
        require(map.layout == .nhwc && map.shape[3] == inputDim,
                "ClassificationHead.forward: expected (N, H, W, \(inputDim)), got \(map.shape)")
        let n = map.shape[0]
        mapShape = map.shape
        let p = pooled.get([n, inputDim], .nc)
        Pooling.globalAverageForward(x: map, y: p)
        let l = logits.get([n, numClasses], .nc)
        Linear.forward(x: p, weight: store.parameter(weight), bias: store.parameter(bias), y: l, precision: precision)
        return ReIDOutput(features: p, embeddings: p, logits: l)
    }

    /// dLogits: (N, classes); dFeatures/dEmbeddings: (N, C) -> dMap (N, H, W, C) from `pool`.
    public func backward(dFeatures: Tensor?, dEmbeddings: Tensor?, dLogits: Tensor?, pool: TensorPool) throws -> Tensor {
        let n = mapShape[0]
        let p = pooled.tensor!
        let dp = pool.take([n, inputDim], .nc)
        dp.zero()
        if let dLogits {
            Linear.backwardWeights(x: p, dy: dLogits, dWeight: store.gradient(weight), dBias: store.gradient(bias),
                                   precision: precision)
            Linear.backwardData(dy: dLogits, weight: store.parameter(weight), dx: dp, precision: precision)
        } else {
            store.gradient(weight).zero()
            store.gradient(bias).zero()
        }
        store.gradientReady(weight)
        store.gradientReady(bias)
        if let dFeatures { Elementwise.add(dp, dFeatures, into: dp) }
        if let dEmbeddings { Elementwise.add(dp, dEmbeddings, into: dp) }
        let dMap = pool.take(mapShape, .nhwc)
        Pooling.globalAverageBackward(dy: dp, dx: dMap)
        pool.give(dp)
        return dMap
    }

    public func macs(includeClassifier: Bool) -> Int { includeClassifier ? inputDim * numClasses : 0 }
}
