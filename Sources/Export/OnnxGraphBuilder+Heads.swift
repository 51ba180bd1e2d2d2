// OnnxGraphBuilder+Heads: the heads of a ReIDNet as ONNX nodes on the backbone's map
// (N, C, H, W). Re-ID: global average pooling, the embedding as a 1x1 Conv, BNNeck
// (folded into the embedding, or a per-channel Mul and Add without one, or a
// BatchNormalization node unfolded), flatten: (N, D), the descriptor `reidprune extract`
// writes. Classification: pooling, flatten, Gemm with `fc`: (N, classes) logits.
import NN
import Tensors

extension OnnxGraphBuilder {
    /// map: (N, C, H, W) -> features (N, D); returns the features' name.
    mutating func reidHead(_ net: ReIDNet, map: String, fold: Bool) -> String {
        let config = net.headConfig
        let epsilon = (net.head as? ReIDHead)?.epsilon ?? 1e-5
        var h = averagePool(map)
        let c = shapes[h]![0]
        let d = config.embeddingDim > 0 ? config.embeddingDim : c
        let neck: (gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor)? = config.bnneck
            ? (gamma: Self.tensor(net, "bnneck.weight"), beta: Self.tensor(net, "bnneck.bias"),
               mean: Self.tensor(net, "bnneck.running_mean"), variance: Self.tensor(net, "bnneck.running_var"))
            : nil
        // Per-channel y = x scale + shift, the neck in inference.
        var affine: [(scale: Float, shift: Float)]?
        if let n = neck {
            affine = (0..<d).map { k in
                let scale = n.gamma[k] / (n.variance[k] + epsilon).squareRoot()
                return (scale, n.beta[k] - n.mean[k] * scale)
            }
        }
        var neckDone = neck == nil
        if config.embeddingDim > 0 {
            // (D, C) weight as a (D, C, 1, 1) convolution on the pooled (N, C, 1, 1).
            var w = Self.tensor(net, "embedding.weight").toArray(), b = Self.tensor(net, "embedding.bias").toArray()
            if fold, let affine {
                for k in 0..<d {
                    for i in 0..<c { w[k * c + i] *= affine[k].scale }
                    b[k] = b[k] * affine[k].scale + affine[k].shift
                }
                neckDone = true
            }
            let inputs = [h, initializer("embedding.weight", dims: [d, c, 1, 1], values: w),
                          initializer("embedding.bias", dims: [d], values: b)]
            h = node("Conv", name: "embedding", inputs: inputs, dims: [d, 1, 1],
                     attributes: [Self.attribute("kernel_shape", ints: [1, 1])])
        }
        if !neckDone, let neck, let affine {
            if fold {
                let scale = initializer("bnneck.scale", dims: [1, d, 1, 1], values: affine.map { $0.scale })
                let shift = initializer("bnneck.shift", dims: [1, d, 1, 1], values: affine.map { $0.shift })
                let scaled = node("Mul", name: "bnneck.mul", inputs: [h, scale], dims: [d, 1, 1])
                h = node("Add", name: "bnneck", inputs: [scaled, shift], dims: [d, 1, 1])
            } else {
                h = batchNorm(name: "bnneck", input: h, gamma: neck.gamma, beta: neck.beta, mean: neck.mean,
                              variance: neck.variance, epsilon: epsilon)
            }
        }
        return flatten(h)
    }

    /// map: (N, C, H, W) -> logits (N, classes) through torchvision's `fc`.
    mutating func classificationHead(_ net: ReIDNet, map: String) -> String {
        let pooled = flatten(averagePool(map))
        let w = Self.tensor(net, "fc.weight"), b = Self.tensor(net, "fc.bias")
        let inputs = [pooled, initializer("fc.weight", dims: w.shape, values: w.toArray()),
                      initializer("fc.bias", dims: b.shape, values: b.toArray())]
        return node("Gemm", name: "fc", inputs: inputs, dims: [w.shape[0]], attributes: [Self.attribute("transB", int: 1)])
    }

    /// The parameter or buffer the network's store holds under `name`.
    static func tensor(_ net: ReIDNet, _ name: String) -> Tensor {
        guard let (isBuffer, index) = net.store.lookup(name) else { preconditionFailure("the network has no \(name)") }
        return isBuffer ? net.store.buffer(index) : net.store.parameter(index)
    }
}
