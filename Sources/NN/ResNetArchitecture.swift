// ResNetArchitecture: the channel counts of a torchvision-structured ResNet (BasicBlock
// or Bottleneck, stride on the 3x3 convolution, 1x1 downsample), possibly pruned. It is
// Codable so that a pruned model's file carries it and loads without its history.
import Tensors
import Foundation

public enum BlockKind: String, Codable, Sendable {
    case basic
    case bottleneck
}

/// One residual block: the widths of its inner convolutions (conv1 for a basic block,
/// conv1 and conv2 for a bottleneck), its stride and whether it has a downsample.
public struct BlockSpec: Codable, Hashable, Sendable {
    public var inner: [Int]
    public var stride: Int
    public var hasDownsample: Bool
}

/// One stage (`layerN`): its residual width (the block outputs) and its blocks.
public struct StageSpec: Codable, Hashable, Sendable {
    public var width: Int
    public var blocks: [BlockSpec]
}

public struct ResNetArchitecture: Codable, Hashable, Sendable {
    public var block: BlockKind
    public var stemWidth: Int
    public var stages: [StageSpec]

    public init(block: BlockKind, stemWidth: Int, stages: [StageSpec]) {
        self.block = block
        self.stemWidth = stemWidth
        self.stages = stages
    }

    public enum Depth: Int, Codable, CaseIterable, Sendable {
        case resnet18 = 18, resnet34 = 34, resnet50 = 50, resnet101 = 101

        public var name: String { "resnet\(rawValue)" }

        public init?(name: String) {
            guard let d = Depth.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
            self = d
        }
    }

    /// The torchvision depth this architecture has (block kind and blocks per stage),
    /// whatever its widths (pruned or not), or nil for another layout.
    public var depth: Depth? {
        Depth.allCases.first { d in
            let reference = ResNetArchitecture.resnet(d, baseWidth: 1)
            return reference.block == block && reference.stages.map(\.blocks.count) == stages.map(\.blocks.count)
        }
    }

    /// A name for messages: the depth's ("resnet50"), or the block kind and counts.
    public var depthName: String {
        depth?.name ?? "\(block.rawValue) ResNet with \(stages.map { String($0.blocks.count) }.joined(separator: "/")) blocks"
    }

    /// torchvision's ResNet of this depth; `baseWidth` scales every width (64 is
    /// torchvision's, tests use 4 or 8); `lastStride` 1 keeps layer4 at layer3's
    /// resolution, as re-ID models usually do.
    public static func resnet(_ depth: Depth, baseWidth: Int = 64, lastStride: Int = 2) -> ResNetArchitecture {
        let kind: BlockKind = depth.rawValue < 50 ? .basic : .bottleneck
        let counts: [Int]
        switch depth {
        case .resnet18: counts = [2, 2, 2, 2]
        case .resnet34, .resnet50: counts = [3, 4, 6, 3]
        case .resnet101: counts = [3, 4, 23, 3]
        }
        return resnet(block: kind, blocks: counts, baseWidth: baseWidth, lastStride: lastStride)
    }

    /// A torchvision-structured ResNet with any block kind and number of blocks per
    /// stage (four stages; widths base, 2 base, 4 base, 8 base, times 4 for bottlenecks).
    public static func resnet(block kind: BlockKind, blocks counts: [Int], baseWidth: Int = 64,
                              lastStride: Int = 2) -> ResNetArchitecture {
        require(baseWidth >= 1 && (lastStride == 1 || lastStride == 2) && counts.count == 4
                     && counts.allSatisfy { $0 >= 1 },
                     "ResNetArchitecture: needs a positive baseWidth, lastStride 1 or 2 and four positive block counts")
        let expansion = kind == .basic ? 1 : 4
        var inC = baseWidth
        var stages: [StageSpec] = []
        for (s, count) in counts.enumerated() {
            let planes = baseWidth << s
            let width = planes * expansion
            let stride = s == 0 ? 1 : (s == 3 ? lastStride : 2)
            var blocks: [BlockSpec] = []
            for b in 0..<count {
                let st = b == 0 ? stride : 1
                let inner = kind == .basic ? [planes] : [planes, planes]
                blocks.append(BlockSpec(inner: inner, stride: st, hasDownsample: b == 0 && (st != 1 || inC != width)))
                inC = width
            }
            stages.append(StageSpec(width: width, blocks: blocks))
        }
        return ResNetArchitecture(block: kind, stemWidth: baseWidth, stages: stages)
    }

    /// Channels of the backbone's output feature map.
    public var featureDim: Int { stages.last!.width }

    /// Kernel, stride and padding of convolution `unit` (0-based) of one of this
    /// architecture's blocks whose stride is `blockStride` (on the first 3x3 of a basic
    /// block, on the 3x3 of a bottleneck).
    public func unitGeometry(_ unit: Int, blockStride: Int) -> (kernel: Int, stride: Int, padding: Int) {
        switch block {
        case .basic: return (3, unit == 0 ? blockStride : 1, 1)
        case .bottleneck: return unit == 1 ? (3, blockStride, 1) : (1, 1, 0)
        }
    }

    /// The size of an h x w map after a convolution or pooling window.
    public static func outputSize(_ h: Int, _ w: Int, kernel: Int, stride: Int, padding: Int) -> (Int, Int) {
        ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
    }

    /// The map of the stem's 7x7 stride-2 convolution over height x width images, and
    /// the map after its 3x3 stride-2 max pooling (the first block's input).
    public static func stemSizes(height: Int, width: Int) -> (conv: (Int, Int), pooled: (Int, Int)) {
        let conv = outputSize(height, width, kernel: 7, stride: 2, padding: 3)
        return (conv, outputSize(conv.0, conv.1, kernel: 3, stride: 2, padding: 1))
    }

    /// Input channels of a block.
    public func blockInput(stage: Int, block: Int) -> Int {
        if block > 0 { return stages[stage].width }
        return stage == 0 ? stemWidth : stages[stage - 1].width
    }

    /// The widest layer a network may have.
    public static let maxWidth = 65536

    /// Throws when the widths cannot form a network: a block without downsample whose
    /// input and output widths differ, a width outside 1...`maxWidth`, a stride other than
    /// 1 or 2, a wrong number of inner widths.
    public func validate() throws {
        let widths = 1...Self.maxWidth
        guard widths.contains(stemWidth), !stages.isEmpty else {
            throw ArchitectureError("empty network or stem width \(stemWidth)")
        }
        for (s, stage) in stages.enumerated() {
            guard widths.contains(stage.width) else { throw ArchitectureError("layer\(s + 1) has width \(stage.width)") }
            for (b, block) in stage.blocks.enumerated() {
                let name = "layer\(s + 1).\(b)"
                guard block.inner.count == (self.block == .basic ? 1 : 2) else {
                    throw ArchitectureError("\(name) has \(block.inner.count) inner widths for a \(self.block) block")
                }
                guard block.inner.allSatisfy(widths.contains) else { throw ArchitectureError("\(name) has width \(block.inner)") }
                guard block.stride == 1 || block.stride == 2 else {
                    throw ArchitectureError("\(name) has stride \(block.stride) (1 or 2)")
                }
                if !block.hasDownsample && (blockInput(stage: s, block: b) != stage.width || block.stride != 1) {
                    throw ArchitectureError("\(name) has no downsample but input \(blockInput(stage: s, block: b)) "
                                            + "!= width \(stage.width) or stride \(block.stride)")
                }
            }
        }
    }
}

public struct ArchitectureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = "invalid architecture: \(message)" }
}
