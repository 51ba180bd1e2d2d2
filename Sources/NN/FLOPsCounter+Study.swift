// FLOPsCounter+Study: the counting convention closest to the study's ResNet-50 figures
// (Masson et al.: 6.32 GFLOPs at 256x128, 2.96 after L1 pruning). No common convention
// reproduces them (benchmarks/flops_conventions.py tries input sizes, last strides,
// multiply-adds once or twice and which layers count); the nearest is a classification-
// style count: multiply-adds once, convolutions and linear layers plus BN (2 per
// element), ReLU (1), max and average pooling (1 per input element) and residual
// additions (1), at 224x224 — 6.25 / 2.81 for ResNet-50 with last stride 1.
import Foundation

extension FLOPsCounter {
    /// The input size of the study's convention (the ImageNet crop), whatever the model's.
    public static let studyInput = (height: 224, width: 224)

    /// Operations of `arch` (and `head`, without classifier) at 224x224 under the study's
    /// closest convention, in GFLOPs (multiply-adds counted once).
    public static func studyGFLOPs(_ arch: ResNetArchitecture, head: HeadConfig? = nil) -> Double {
        let cost = count(arch, head: head, height: studyInput.height, width: studyInput.width)
        func elements(_ shape: [Int]) -> Int { shape.reduce(1, *) }
        var ops = cost.macs
        for l in cost.layers where l.kind == "bn" && l.name != "bnneck" {
            ops += 2 * elements(l.output)
            // ReLU follows every BN but a block's last one and its downsample's (the
            // addition comes first, then one ReLU on the sum).
            let last = "bn\(arch.block == .basic ? 2 : 3)"
            if l.name == "bn1" || !(l.name.hasSuffix(last) || l.name.hasSuffix("downsample.1")) { ops += elements(l.output) }
            if l.name.hasSuffix(last) { ops += 2 * elements(l.output) }  // the addition and its ReLU
        }
        if let stem = cost.layers.first(where: { $0.name == "bn1" }) { ops += elements(stem.output) }  // max pooling
        if let lastConv = cost.layers.last(where: { $0.kind == "conv" }) { ops += elements(lastConv.output) }  // average pooling
        return Double(ops) / 1e9
    }
}
