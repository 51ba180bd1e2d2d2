// FLOPsCounter: multiply-accumulates and parameters per layer and per model for a
// ResNet architecture (pruned or not) and an input size, computed from the channel
// counts alone. MACs count convolutions and linear layers (as thop, fvcore and the
// pruning literature do); FLOPs are 2 x MACs. BN parameters are counted, their
// arithmetic is not (it folds into the convolution at deployment).
import Foundation

public struct LayerCost: Codable, Sendable {
    public var name: String
    public var kind: String
    /// (C, H, W) in and out.
    public var input: [Int]
    public var output: [Int]
    public var macs: Int
    public var params: Int
}

public struct ModelCost: Codable, Sendable {
    public var height: Int
    public var width: Int
    public var layers: [LayerCost]
    public var macs: Int { layers.reduce(0) { $0 + $1.macs } }
    public var flops: Int { 2 * macs }
    public var params: Int { layers.reduce(0) { $0 + $1.params } }
}

public enum FLOPsCounter {
    /// Costs per image of the backbone and, when given, the head (a re-ID head's
    /// classifier only when `includeClassifier`; a classification head's `fc` always).
    public static func count(_ arch: ResNetArchitecture, head: HeadConfig? = nil, height: Int, width: Int,
                             includeClassifier: Bool = false) -> ModelCost {
        var layers: [LayerCost] = []
        func conv(_ name: String, _ c: Int, _ h: Int, _ w: Int, _ k: Int, _ kernel: Int, _ stride: Int,
                  _ pad: Int) -> (Int, Int) {
            let (oh, ow) = ResNetArchitecture.outputSize(h, w, kernel: kernel, stride: stride, padding: pad)
            layers.append(LayerCost(name: "\(name)", kind: "conv", input: [c, h, w], output: [k, oh, ow],
                                    macs: oh * ow * k * c * kernel * kernel, params: k * c * kernel * kernel))
            return (oh, ow)
        }
        func bn(_ name: String, _ c: Int, _ h: Int, _ w: Int) {
            layers.append(LayerCost(name: name, kind: "bn", input: [c, h, w], output: [c, h, w], macs: 0, params: 2 * c))
        }
        var (h, w) = conv("conv1", 3, height, width, arch.stemWidth, 7, 2, 3)
        bn("bn1", arch.stemWidth, h, w)
        (h, w) = ResNetArchitecture.stemSizes(height: height, width: width).pooled
        for (s, stage) in arch.stages.enumerated() {
            for (b, spec) in stage.blocks.enumerated() {
                let prefix = "layer\(s + 1).\(b)"
                let inC = arch.blockInput(stage: s, block: b)
                var (ch, cw) = (h, w)
                var c = inC
                let widths = spec.inner + [stage.width]
                for (i, k) in widths.enumerated() {
                    let (kernel, stride, pad) = arch.unitGeometry(i, blockStride: spec.stride)
                    (ch, cw) = conv("\(prefix).conv\(i + 1)", c, ch, cw, k, kernel, stride, pad)
                    bn("\(prefix).bn\(i + 1)", k, ch, cw)
                    c = k
                }
                if spec.hasDownsample {
                    let (dh, dw) = conv("\(prefix).downsample.0", inC, h, w, stage.width, 1, spec.stride, 0)
                    bn("\(prefix).downsample.1", stage.width, dh, dw)
                }
                (h, w) = (ch, cw)
            }
        }
        if let head, head.task == .classification {
            // `fc` is the classification model's output layer: always counted.
            let d = arch.featureDim
            layers.append(LayerCost(name: "fc", kind: "linear", input: [d, 1, 1], output: [head.numClasses, 1, 1],
                                    macs: d * head.numClasses, params: d * head.numClasses + head.numClasses))
        } else if let head {
            var d = arch.featureDim
            if head.embeddingDim > 0 {
                layers.append(LayerCost(name: "embedding", kind: "linear", input: [d, 1, 1], output: [head.embeddingDim, 1, 1],
                                        macs: d * head.embeddingDim, params: d * head.embeddingDim + head.embeddingDim))
                d = head.embeddingDim
            }
            if head.bnneck {
                layers.append(LayerCost(name: "bnneck", kind: "bn", input: [d, 1, 1], output: [d, 1, 1], macs: 0,
                                        params: 2 * d))
            }
            if includeClassifier && head.numClasses > 0 {
                layers.append(LayerCost(name: "classifier", kind: "linear", input: [d, 1, 1],
                                        output: [head.numClasses, 1, 1], macs: d * head.numClasses,
                                        params: d * head.numClasses))
            }
        }
        return ModelCost(height: height, width: width, layers: layers)
    }
}
