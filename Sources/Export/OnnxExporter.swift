// OnnxExporter: a ReIDNet (pruned or not: the widths are the network's) as an ONNX model
// (IR 8, opset 17) of its eval-mode forward pass: input `images` (N, 3, H, W) float32,
// normalized as in training; output `features` (N, D), the re-ID descriptor
// `reidprune extract` writes, or `logits` (N, classes) for a classification model.
import Foundation
import NN
import SwiftProtobuf
import Tensors

public enum OnnxExporter {
    public static let opsetVersion = 17
    /// The IR version that opset 17 was released with.
    public static let irVersion = 8
    public static let inputName = "images"
    /// The name the batch dimension takes with a dynamic batch.
    public static let batchDimension = "batch"

    public struct Options: Sendable {
        /// Input size (H, W), as given to `reidprune extract` or the recipe's data section.
        public var height = 256
        public var width = 128
        /// A fixed batch size, or nil for a symbolic batch dimension (any size at run time).
        public var batch: Int? = 1
        /// Folds each BN into the convolution before it (and BNNeck into the embedding);
        /// false keeps them as BatchNormalization nodes.
        public var foldBatchNorm = true
        /// The per-channel normalization the caller applies to RGB values in [0, 1], recorded
        /// in the model's metadata (the values the training pipeline uses).
        public var mean: [Float] = [0.485, 0.456, 0.406]
        public var std: [Float] = [0.229, 0.224, 0.225]
        /// More key-value metadata (the source file, a synthetic-data flag, ...).
        public var metadata: [String: String] = [:]

        public init() {}
    }

    /// The name of the graph output for a network's task.
    public static func outputName(_ task: HeadTask) -> String { task == .classification ? "logits" : "features" }

    /// The ONNX model of `net` in eval mode: images (N, 3, H, W) -> features (N, D) or
    /// logits (N, classes). Throws when the input size is too small for the network.
    public static func model(_ net: ReIDNet, options: Options) throws -> Onnx_ModelProto {
        try check(options)
        let batch: OnnxGraphBuilder.BatchDimension = options.batch.map { .fixed($0) } ?? .symbolic(batchDimension)
        var b = OnnxGraphBuilder(name: "reidprune_\(net.architecture.depthName.replacingOccurrences(of: " ", with: "_"))",
                                 batch: batch)
        let mean = options.mean.map { "\($0)" }.joined(separator: ", "), std = options.std.map { "\($0)" }.joined(separator: ", ")
        b.input(inputName, dims: [3, options.height, options.width],
                doc: "RGB images (N, 3, H, W), float32: values in [0, 1] minus mean (\(mean)), divided by std (\(std))")
        let map = b.backbone(net, input: inputName, fold: options.foldBatchNorm)
        let out: String
        let doc: String
        switch net.headConfig.task {
        case .reid:
            out = b.reidHead(net, map: map, fold: options.foldBatchNorm)
            doc = "re-ID descriptors (N, D), as reidprune extract computes them (without flip averaging or L2 normalization)"
        case .classification:
            out = b.classificationHead(net, map: map)
            doc = "class scores before softmax (N, classes)"
        }
        b.output(out, as: outputName(net.headConfig.task), doc: doc)

        var model = Onnx_ModelProto()
        model.irVersion = Int64(irVersion)
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(opsetVersion)
        model.opsetImport = [opset]
        model.producerName = "reidprune"
        model.graph = b.graph
        model.docString = "ReIDPrune \(net.architecture.depthName), \(net.headConfig.task.rawValue) head, eval mode"
            + (options.foldBatchNorm ? ", BN folded into the convolutions" : "")
        var metadata = options.metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        metadata[ModelWeights.architectureKey] = String(decoding: try encoder.encode(net.architecture), as: UTF8.self)
        metadata[ModelWeights.headKey] = String(decoding: try encoder.encode(net.headConfig), as: UTF8.self)
        metadata.merge(ModelWeights.inputSizeMetadata(height: options.height, width: options.width)) { _, new in new }
        metadata["mean"] = mean
        metadata["std"] = std
        model.metadataProps = metadata.keys.sorted().map { key in
            var e = Onnx_StringStringEntryProto()
            e.key = key
            e.value = metadata[key]!
            return e
        }
        return model
    }

    /// The serialized model (protobuf binary, what a .onnx file holds).
    public static func data(_ net: ReIDNet, options: Options) throws -> Data {
        try model(net, options: options).serializedData()
    }

    static func check(_ o: Options) throws {
        guard o.height >= 32 && o.width >= 32 else {
            throw ExportError("--height and --width must be at least 32, got \(o.height)x\(o.width)")
        }
        guard o.height <= ImageLimits.maxSide && o.width <= ImageLimits.maxSide else {
            throw ExportError("--height and --width must be at most \(ImageLimits.maxSide), got \(o.height)x\(o.width)")
        }
        if let n = o.batch, n < 1 { throw ExportError("--batch must be at least 1, got \(n)") }
        guard o.mean.count == 3 && o.std.count == 3 && o.std.allSatisfy({ $0 > 0 }) else {
            preconditionFailure("OnnxExporter: mean and std need three values, std positive")
        }
    }
}
