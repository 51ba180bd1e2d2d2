// OnnxGraphBuilder+Network: a ReIDNet as ONNX nodes, in NCHW as ONNX computes: the stem
// and residual blocks (Conv with BN folded in, or Conv + BatchNormalization), max pooling,
// and the re-ID head (pooling, embedding, BNNeck, flatten: (N, D) features) or the
// classification head (pooling, flatten, `fc`: (N, classes) logits). Values are named
// after the layers that make them, initializers after the torchvision keys they hold.
import NN
import Tensors

extension OnnxGraphBuilder {
    /// x: (N, 3, H, W) -> backbone feature map (N, C, H', W'); returns the map's name.
    mutating func backbone(_ net: ReIDNet, input: String, fold: Bool) -> String {
        let stem = unit(net.backbone.stem, store: net.store, input: input, fold: fold, reluName: "relu")
        let m = shapes[stem]!
        // ResNet's stem pooling, as Tensors' PoolGeometry defaults to: 3x3, stride 2, padding 1.
        let pool = (kernel: 3, stride: 2, padding: 1)
        let size = { (n: Int) in (n + 2 * pool.padding - pool.kernel) / pool.stride + 1 }
        var h = node("MaxPool", name: "maxpool", inputs: [stem], dims: [m[0], size(m[1]), size(m[2])],
                     attributes: [Self.attribute("kernel_shape", ints: [pool.kernel, pool.kernel]),
                                  Self.attribute("strides", ints: [pool.stride, pool.stride]),
                                  Self.attribute("pads", ints: Array(repeating: pool.padding, count: 4))])
        for (s, stage) in net.backbone.blocks.enumerated() {
            for (b, block) in stage.enumerated() {
                h = residual(block, name: "layer\(s + 1).\(b)", store: net.store, input: h, fold: fold)
            }
        }
        return h
    }

    /// One ConvBN unit: x: (N, C, H, W) -> (N, K, H', W'), ReLU applied when the unit has
    /// it. Folded: one Conv with weight w gamma / sigma and bias beta - mu gamma / sigma
    /// (the unit's own inference weights); otherwise Conv without bias, then
    /// BatchNormalization with the running statistics.
    mutating func unit(_ u: ConvBN, store: ParameterStore, input: String, fold: Bool, reluName: String? = nil) -> String {
        let x = shapes[input]!
        precondition(x[0] == u.inChannels, "\(u.convName): input has \(x[0]) channels, the unit \(u.inChannels)")
        let (oh, ow) = u.outputSize(x[1], x[2])
        let dims = [u.outChannels, oh, ow]
        let wDims = [u.outChannels, u.inChannels, u.kernel, u.kernel]
        let attributes = [Self.attribute("kernel_shape", ints: [u.kernel, u.kernel]),
                          Self.attribute("strides", ints: [u.stride, u.stride]),
                          Self.attribute("pads", ints: Array(repeating: u.padding, count: 4)),
                          Self.attribute("dilations", ints: [1, 1]),
                          Self.attribute("group", int: 1)]
        var y: String
        if fold {
            let (w, b) = u.foldedParameters()
            let wName = initializer("\(u.convName).weight", dims: wDims, values: w.toArray())
            let bName = initializer("\(u.convName).bias", dims: [u.outChannels], values: b.toArray())
            y = node("Conv", name: u.convName, inputs: [input, wName, bName], dims: dims, attributes: attributes)
        } else {
            let p = u.parameterIndices, s = u.bufferIndices
            let wName = initializer("\(u.convName).weight", dims: wDims, values: store.parameter(p.weight).toArray())
            let c = node("Conv", name: u.convName, inputs: [input, wName], dims: dims, attributes: attributes)
            y = batchNorm(name: u.bnName, input: c, gamma: store.parameter(p.gamma), beta: store.parameter(p.beta),
                          mean: store.buffer(s.mean), variance: store.buffer(s.variance), epsilon: u.epsilon)
        }
        if u.relu { y = node("Relu", name: reluName ?? "\(y).relu", inputs: [y], dims: dims) }
        return y
    }

    /// BatchNormalization in inference (running statistics), x: (N, C, ...) -> same shape.
    mutating func batchNorm(name: String, input: String, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                            epsilon: Float) -> String {
        let c = gamma.count
        let inputs = [input,
                      initializer("\(name).weight", dims: [c], values: gamma.toArray()),
                      initializer("\(name).bias", dims: [c], values: beta.toArray()),
                      initializer("\(name).running_mean", dims: [c], values: mean.toArray()),
                      initializer("\(name).running_var", dims: [c], values: variance.toArray())]
        return node("BatchNormalization", name: name, inputs: inputs, dims: shapes[input]!,
                    attributes: [Self.attribute("epsilon", float: epsilon)])
    }

    /// A residual block: x: (N, C, H, W) -> relu(branch(x) + shortcut(x)): (N, K, H', W').
    mutating func residual(_ block: ResidualBlock, name: String, store: ParameterStore, input: String, fold: Bool) -> String {
        var h = input
        for u in block.units { h = unit(u, store: store, input: h, fold: fold) }
        let shortcut = block.downsample.map { unit($0, store: store, input: input, fold: fold) } ?? input
        precondition(shapes[h] == shapes[shortcut], "\(name): branch \(shapes[h]!) and shortcut \(shapes[shortcut]!) differ")
        let sum = node("Add", name: "\(name).add", inputs: [h, shortcut], dims: shapes[h]!)
        return node("Relu", name: name, inputs: [sum], dims: shapes[h]!)
    }

    /// map: (N, C, H, W) -> (N, C, 1, 1) by global average pooling.
    mutating func averagePool(_ map: String) -> String {
        node("GlobalAveragePool", name: "avgpool", inputs: [map], dims: [shapes[map]![0], 1, 1])
    }

    /// (N, D, 1, 1) -> (N, D).
    mutating func flatten(_ x: String) -> String {
        node("Flatten", name: "flatten", inputs: [x], dims: [shapes[x]![0]], attributes: [Self.attribute("axis", int: 1)])
    }
}
