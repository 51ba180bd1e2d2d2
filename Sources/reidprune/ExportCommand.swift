// `reidprune export`: a model file as a deployment model (ONNX), pruned or not.
// Also imports Export (the exporter) and ReIDData (the normalization training uses).
import ArgumentParser
import Export
import Foundation
import ReIDData

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model's eval-mode network as ONNX (opset 17): input images (N, 3, H, W) normalized as in "
            + "training, output features (re-ID) or logits (classification).")

    @Option(help: "Model weights written by reidprune (safetensors); pruned widths come from the file.") var weights: String
    @Option(help: "Output format: onnx.") var format = "onnx"
    @Option(help: "Output file.") var out: String
    @Option(help: "Input height (default: the size the model was trained at, as its file records; else 256).")
    var height: Int?
    @Option(help: "Input width (default: as --height; else 128).") var width: Int?
    @Option(help: "Fixed batch size of the input (default 1).") var batch: Int?
    @Flag(help: "A symbolic batch dimension: any batch size at run time.") var dynamicBatch = false
    @Flag(help: "Keep batch normalizations as BatchNormalization nodes instead of folding them into the convolutions.")
    var noFold = false

    func validate() throws {
        try InputSizeOptions.validate(height: height, width: width)
        if dynamicBatch && batch != nil { throw ValidationError("--batch and --dynamic-batch exclude each other") }
    }

    func run() throws {
        // One process's work: under mpirun the root exports and the others wait for its outcome.
        try Ranks.run(aloneWithoutMPI: true) { comm in
            Ranks.rootLine(comm)(try comm.onRoot { try export() })
        }
    }

    func export() throws -> String {
        var o = OnnxExporter.Options()
        (o.height, o.width) = InputSizeOptions.resolve(height: height, width: width, weights: weights)
        // A size below the export's least that was not given is the one the file records
        // (a classification model trained on small crops).
        if (height == nil || width == nil) && min(o.height, o.width) < 32 {
            throw ExportError("\(weights) was trained at \(o.height)x\(o.width); the export takes at least 32x32: "
                              + "pass --height and --width")
        }
        o.foldBatchNorm = !noFold
        o.batch = dynamicBatch ? nil : (batch ?? 1)
        let normalization = AugmentConfig()
        (o.mean, o.std) = (normalization.mean, normalization.std)
        return try ModelExport.export(weights: weights, format: format, out: out, options: o)
    }
}
