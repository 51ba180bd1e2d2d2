// `reidprune flops`: MACs, FLOPs and parameters per layer and in total for an
// architecture (or the architecture a weights file carries) at an input size.
// Also imports NN, whose FLOPs counter and architectures the command prints.
import ArgumentParser
import Foundation
import NN
import Tensors
import Training

struct FLOPsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flops",
        abstract: "Count MACs, FLOPs (= 2 x MACs) and parameters per layer and per model.")

    @Option(help: "Architecture: resnet18, resnet34, resnet50 or resnet101 (default resnet50; with --weights, it must be the file's).")
    var arch: String?

    @Option(help: "A safetensors file written by reidprune; its (possibly pruned) architecture is counted.")
    var weights: String?

    @Option(help: "Input height.") var height: Int = 256
    @Option(help: "Input width.") var width: Int = 128
    @Option(help: "Last stage stride (1 or 2).") var lastStride: Int = 2
    @Flag(help: "Include the re-ID head (embedding, BNNeck) stored in --weights.") var head = false
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func pad(_ s: String, _ n: Int, right: Bool = false) -> String { TextColumns.pad(s, n, right: right) }

    func run() throws {
        let architecture: ResNetArchitecture
        var headConfig: HeadConfig?
        if let weights {
            let net = try ModelWeights.loadNet(weights, expected: arch)
            architecture = net.architecture
            headConfig = head ? net.headConfig : nil
        } else {
            guard let depth = ResNetArchitecture.Depth(name: arch ?? "resnet50") else {
                throw ValidationError("--arch must be one of resnet18, resnet34, resnet50, resnet101; got '\(arch ?? "")'")
            }
            guard lastStride == 1 || lastStride == 2 else { throw ValidationError("--last-stride must be 1 or 2") }
            architecture = .resnet(depth, lastStride: lastStride)
        }
        if let problem = ImageLimits.optionProblem(height: height, width: width) { throw ValidationError(problem) }
        let cost = FLOPsCounter.count(architecture, head: headConfig, height: height, width: width)
        let study = FLOPsCounter.studyGFLOPs(architecture, head: headConfig)
        if json {
            struct Report: Encodable {
                let height: Int, width: Int, macs: Int, flops: Int, params: Int, gmacs: Double, gflops: Double
                let mparams: Double, layers: [LayerCost]
                let study_gflops: Double, study_convention: String
            }
            let r = Report(height: height, width: width, macs: cost.macs, flops: cost.flops, params: cost.params,
                           gmacs: Double(cost.macs) / 1e9, gflops: Double(cost.flops) / 1e9,
                           mparams: Double(cost.params) / 1e6, layers: cost.layers, study_gflops: study,
                           study_convention: Self.studyConvention)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(r), as: UTF8.self))
            return
        }
        print(pad("layer", 28) + pad("kind", 7) + pad("input CxHxW", 16) + pad("output CxHxW", 16)
              + pad("MACs", 14, right: true) + pad("params", 12, right: true))
        for l in cost.layers {
            print(pad(l.name, 28) + pad(l.kind, 7) + pad(l.input.map(String.init).joined(separator: "x"), 16)
                  + pad(l.output.map(String.init).joined(separator: "x"), 16) + pad("\(l.macs)", 14, right: true)
                  + pad("\(l.params)", 12, right: true))
        }
        print(String(format: "total at %dx%d: %.3f GMACs, %.3f GFLOPs, %.3f M parameters", height, width,
                     Double(cost.macs) / 1e9, Double(cost.flops) / 1e9, Double(cost.params) / 1e6))
        print(String(format: "study's convention: %.3f GFLOPs (%@)", study, Self.studyConvention))
    }

    static let studyConvention = "closest found to the study's 6.32/2.96 for ResNet-50, none matches: multiply-adds once, "
        + "conv, linear, BN (2/element), ReLU, pooling and additions, at 224x224 whatever the input; see README"
}
