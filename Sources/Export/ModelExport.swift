// ModelExport: `reidprune export` as one call: checks the format and the output path,
// loads a model file written by reidprune (its architecture, pruned or not, and head come
// from the file), builds the deployment model and writes it atomically. Any problem is
// one error naming the option or file, and nothing is written.
import Foundation
import NN
import Tensors

public enum ModelExport {
    /// Exports the model in `weights` as `format` ("onnx") to `out`; returns a line
    /// describing what was written.
    public static func export(weights: String, format: String, out: String,
                              options: OnnxExporter.Options = OnnxExporter.Options()) throws -> String {
        let format = try ExportFormat(option: format)
        try AtomicFile.checkCreatable([out])
        let file = try SafetensorsFile(path: weights)
        let net = try ModelWeights.loadNet(file)
        var o = options
        o.metadata["source"] = (weights as NSString).lastPathComponent
        if let synthetic = file.metadata["synthetic"] { o.metadata["synthetic"] = synthetic }
        let data: Data
        switch format {
        case .onnx: data = try OnnxExporter.data(net, options: o)
        }
        try AtomicFile.write(data, to: out)
        let batch = o.batch.map(String.init) ?? OnnxExporter.batchDimension
        let output = OnnxExporter.outputName(net.headConfig.task)
        let width = net.headConfig.task == .classification ? net.headConfig.numClasses : net.head.outputDim
        return "\(out): ONNX opset \(OnnxExporter.opsetVersion), \(net.architecture.depthName) "
            + "(\(net.headConfig.task.rawValue)), \(OnnxExporter.inputName) (\(batch), 3, \(o.height), \(o.width)) -> "
            + "\(output) (\(batch), \(width)), BN \(o.foldBatchNorm ? "folded" : "kept as nodes"), "
            + String(format: "%.1f MB", Double(data.count) / 1e6)
            + (file.metadata["synthetic"] == "true" ? " (trained on synthetic data)" : "")
    }
}
