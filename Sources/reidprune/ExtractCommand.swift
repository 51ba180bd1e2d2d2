// `reidprune extract`: features of a data set split to a safetensors file (under mpirun,
// every rank extracts its share and the root writes).
import ArgumentParser
import Foundation
import ReIDData
import Tensors
import Training

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract", abstract: "Write eval-mode features of a data set split (features, pids, camids).")

    @Option(help: "Model weights (safetensors).") var weights: String
    @Option(help: "Architecture for a file without reidprune metadata (a torchvision/timm backbone).") var arch: String?
    @Option(help: "Data set folder (any supported layout).") var data: String
    @Option(help: "Split: query, gallery or train.") var split: String
    @Option(help: "Output safetensors file.") var out: String
    @Option(help: "Input height (default: the size the model was trained at, as its file records; else 256).")
    var height: Int?
    @Option(help: "Input width (default: as --height; else 128).") var width: Int?
    @Option(help: "Images per batch.") var batchSize = 64
    @Flag(help: "Average with the horizontally flipped images.") var flip = false
    @Flag(help: "L2-normalize the features.") var normalize = false
    @Flag(help: "CUHK03-NP: the labeled boxes instead of the detected ones (as data.cuhk03_labeled).") var cuhk03Labeled = false
    @Option(help: "Arithmetic of convolutions and linear layers: fp32 or bf16 (needs native bf16: AVX512_BF16 or AMX).")
    var precision = "fp32"

    func validate() throws {
        try InputSizeOptions.validate(height: height, width: width)
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        try OptionRange.precision(precision)
    }

    func run() throws {
        let arithmetic = Precision(rawValue: precision) ?? .fp32
        var reader = ReaderOptions()
        reader.cuhk03Labeled = cuhk03Labeled
        try Ranks.run(aloneWithoutMPI: true) { comm in
            let (height, width) = InputSizeOptions.resolve(height: height, width: width, weights: weights, warn: comm.isRoot)
            Ranks.rootLine(comm)(try FeatureExtractor.extract(
                weights: weights, arch: arch, data: data, split: split, out: out, height: height, width: width,
                batchSize: batchSize, flip: flip, normalize: normalize, precision: arithmetic, reader: reader, comm: comm))
        }
    }
}
