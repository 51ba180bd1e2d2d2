// ChannelGroups: the sets of channels of a ResNet that must shrink together. Free
// (inner) groups are the outputs of conv1 and conv2 in a bottleneck (conv1 in a basic
// block): only the next convolution consumes them. Residual groups couple every
// output on a stage's residual stream (conv3 or conv2 of each block, the downsample,
// their BNs) with every consumer (the next blocks' first convolutions and downsamples,
// and after the last stage the head: re-ID embedding/BNNeck/classifier or `fc`); the stem's output joins layer1's residual group
// when layer1 has no downsample (basic blocks). Each parameter axis is mapped to its group.
import NN

public enum PruneScope: String, Codable, Sendable {
    /// Free groups only, as in the pruning-for-re-ID study.
    case inner
    /// Free groups and residual groups (stem included).
    case all
}

public struct ChannelGroup: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Sendable { case inner, residual }
    /// Where the group's width lives in a ResNetArchitecture.
    public enum Location: Codable, Hashable, Sendable {
        case stem
        /// A stage's residual width; `withStem` when the stem's output shares it.
        case residual(stage: Int, withStem: Bool)
        case inner(stage: Int, block: Int, index: Int)
    }
    /// Stable name: "layer2.1.conv1" (inner) or "layer3.residual" / "stem" (residual).
    public var name: String
    public var kind: Kind
    public var location: Location
    public var channels: Int
    /// (conv, bn) names whose output channels form this group.
    public var producers: [[String]]
}

/// Groups of an architecture and the group of every parameter axis.
public struct GroupMap: Sendable {
    public let groups: [ChannelGroup]
    /// slot name -> (group of axis 0, group of axis 1), as indices into `groups`.
    public let axes: [String: (Int?, Int?)]

    public func index(of name: String) -> Int? { groups.firstIndex { $0.name == name } }

    /// The groups and axis map of `arch` with `head`.
    public static func build(_ arch: ResNetArchitecture, head: HeadConfig) -> GroupMap {
        var groups: [ChannelGroup] = []
        var axes: [String: (Int?, Int?)] = [:]
        func add(_ name: String, _ kind: ChannelGroup.Kind, _ location: ChannelGroup.Location, _ channels: Int) -> Int {
            groups.append(ChannelGroup(name: name, kind: kind, location: location, channels: channels, producers: []))
            return groups.count - 1
        }
        func conv(_ convName: String, _ bnName: String, out: Int, in input: Int?) {
            axes["\(convName).weight"] = (out, input)
            for p in ["weight", "bias", "running_mean", "running_var"] { axes["\(bnName).\(p)"] = (out, nil) }
            groups[out].producers.append([convName, bnName])
        }
        // The residual group of each stage; the stem shares layer1's when layer1.0 has no downsample.
        let stemShared = !(arch.stages.first?.blocks.first?.hasDownsample ?? true)
        var residual: [Int] = []
        for (s, stage) in arch.stages.enumerated() {
            let shared = s == 0 && stemShared
            residual.append(add(shared ? "stem+layer1.residual" : "layer\(s + 1).residual", .residual,
                                .residual(stage: s, withStem: shared), stage.width))
        }
        let stem = stemShared ? residual[0] : add("stem", .residual, .stem, arch.stemWidth)
        conv("conv1", "bn1", out: stem, in: nil)
        for (s, stage) in arch.stages.enumerated() {
            for (b, block) in stage.blocks.enumerated() {
                let prefix = "layer\(s + 1).\(b)"
                let input = b > 0 ? residual[s] : (s == 0 ? stem : residual[s - 1])
                var previous = input
                for (i, width) in block.inner.enumerated() {
                    let g = add("\(prefix).conv\(i + 1)", .inner, .inner(stage: s, block: b, index: i), width)
                    conv("\(prefix).conv\(i + 1)", "\(prefix).bn\(i + 1)", out: g, in: previous)
                    previous = g
                }
                let last = block.inner.count + 1
                conv("\(prefix).conv\(last)", "\(prefix).bn\(last)", out: residual[s], in: previous)
                if block.hasDownsample {
                    conv("\(prefix).downsample.0", "\(prefix).downsample.1", out: residual[s], in: input)
                }
            }
        }
        let features = residual.last!
        if head.task == .classification {
            axes["fc.weight"] = (nil, features)
            axes["fc.bias"] = (nil, nil)
            return GroupMap(groups: groups, axes: axes)
        }
        if head.embeddingDim > 0 {
            axes["embedding.weight"] = (nil, features)
            axes["embedding.bias"] = (nil, nil)
        }
        let neckGroup: Int? = head.embeddingDim > 0 ? nil : features
        for p in ["weight", "bias", "running_mean", "running_var"] { axes["bnneck.\(p)"] = (neckGroup, nil) }
        axes["classifier.weight"] = (nil, neckGroup)
        return GroupMap(groups: groups, axes: axes)
    }

    /// Indices of the groups a scope prunes.
    public func prunable(_ scope: PruneScope) -> [Int] {
        groups.indices.filter { scope == .all || groups[$0].kind == .inner }
    }
}

extension ResNetArchitecture {
    /// The architecture with each group's channel count set from `counts` (indexed like
    /// `GroupMap.build(self, ...).groups`).
    public func withGroupCounts(_ counts: [Int], map: GroupMap) -> ResNetArchitecture {
        var a = self
        for (i, g) in map.groups.enumerated() {
            switch g.location {
            case .stem:
                a.stemWidth = counts[i]
            case let .residual(stage, withStem):
                a.stages[stage].width = counts[i]
                if withStem { a.stemWidth = counts[i] }
            case let .inner(stage, block, index):
                a.stages[stage].blocks[block].inner[index] = counts[i]
            }
        }
        return a
    }
}
