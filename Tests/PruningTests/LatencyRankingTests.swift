// Latency-aware ranking on hand-made latency tables (nothing is timed): shapes and keys
// of a ResNet's inference convolutions, importance per millisecond saved, latency
// targets reached by global and layer-wise ranking with the floor, round_to auto's
// candidate widths and choice under a FLOPs target, and the errors of missing tables.
import Foundation
import NN
@testable import Pruning
import Tensors
import XCTest

final class LatencyRankingTests: XCTestCase {
    static let batch = 2, height = 64, width = 32

    /// A hand-made cost: MACs / 1e6, 1.6x when a width is not a multiple of 8, plus a
    /// per-output-channel term (memory traffic).
    static func cost(_ s: ConvShape) -> Double {
        let (oh, ow) = s.outputSize
        let macs = Double(s.batch * oh * ow * s.inChannels * s.outChannels * s.kernel * s.kernel)
        let aligned = s.inChannels % 8 == 0 && s.outChannels % 8 == 0
        return macs / 1e6 * (aligned ? 1 : 1.6) + 0.001 * Double(s.outChannels)
    }

    /// Every shape a bottleneck ResNet's convolutions take when its inner groups shrink
    /// (conv1: its output; conv2: both; conv3: its input), priced by `cost`.
    static func table(_ arch: ResNetArchitecture, cost: (ConvShape) -> Double = cost) -> LatencyTable {
        var entries: [ConvShape: Double] = [:]
        for s in arch.inferenceConvolutions(batch: batch, height: height, width: width) {
            let isStem = s.inChannels == 3, isConv2 = s.kernel == 3 && !isStem
            let isConv1 = s.kernel == 1 && s.post == .relu, isConv3 = s.post == .sum
            let ins = isConv2 || isConv3 ? Array(1...s.inChannels) : [s.inChannels]
            let outs = isConv1 || isConv2 ? Array(1...s.outChannels) : [s.outChannels]
            for c in ins {
                for k in outs {
                    var t = s
                    t.inChannels = c
                    t.outChannels = k
                    entries[t] = cost(t)
                }
            }
        }
        return LatencyTable(machine: "hand-made | 2 threads", entries: entries)
    }

    let arch = ResNetArchitecture.resnet(.resnet50, baseWidth: 16, lastStride: 1)

    func options() -> RankingOptions {
        var o = RankingOptions()
        o.height = Self.height
        o.width = Self.width
        o.latencyBatch = Self.batch
        return o
    }

    func scored() throws -> (ReIDNet, GroupMap, [[Double]]) {
        let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 5), seed: 4)
        let map = GroupMap.build(arch, head: net.headConfig)
        return (net, map, WeightCriterion.scores(.l1, net: net, map: map))
    }

    func testInferenceConvolutionsAndKeys() throws {
        // A cache that holds every activation: the whole batch at once (micro-batches:
        // InferenceConvolutionsTests).
        let r50 = ResNetArchitecture.resnet(.resnet50).inferenceConvolutions(batch: 32, height: 256, width: 128,
                                                                             cacheBytes: 512 << 20)
        XCTAssertEqual(r50.count, 53, "stem, 16 x 3 and 4 downsamples")
        XCTAssertEqual(r50.filter { $0.post == .sum }.count, 16, "each block's last convolution adds into the shortcut")
        XCTAssertEqual(r50[0].key, "n32 c3 k64 7x7 s2 p3 256x128 relu")
        XCTAssertEqual(r50.last!.outputSize.0, 8, "last stride 2: 256 / 32")
        for s in r50 { XCTAssertEqual(ConvShape(key: s.key), s) }
        XCTAssertNil(ConvShape(key: "n32 c3 k64 7x5 s2 p3 256x128 relu"))
        XCTAssertNil(ConvShape(key: "n32 c3 k64 7x7 s2 p3 256x128 gelu"))
        // FLOPs of the enumerated shapes are the FLOPs counter's convolutions.
        let macs = r50.reduce(0) { $0 + $1.batch * $1.outputSize.0 * $1.outputSize.1 * $1.inChannels * $1.outChannels * $1.kernel * $1.kernel }
        let counted = FLOPsCounter.count(.resnet(.resnet50), height: 256, width: 128).layers.filter { $0.kind == "conv" }
        XCTAssertEqual(macs, 32 * counted.reduce(0) { $0 + $1.macs })
    }

    func testChunksGoByImportancePerMillisecondSaved() throws {
        // Group 0 is the less important, but group 1 saves ten times as much per channel.
        var counts = [32, 32]
        let scores = [[Double](repeating: 1, count: 32), [Double](repeating: 2, count: 32)]
        let order = scores.map { Array($0.indices) }
        func predicted(_ c: [Int]) -> Double { 10 * Double(c[0]) + 100 * Double(c[1]) }
        try Ranking.globalByLatency(&counts, scores: scores, order: order, prunable: [0, 1], floors: [1, 1],
                                    normalizer: .none, target: 1920, predicted: predicted)
        XCTAssertEqual(counts, [32, 16], "one chunk of group 1 reaches the target; group 0 keeps everything")
        // Where group 0 saves as much, its lower importance wins.
        var even = [32, 32]
        try Ranking.globalByLatency(&even, scores: scores, order: order, prunable: [0, 1], floors: [1, 1],
                                    normalizer: .none, target: 100 * 16 + 100 * 32) { 100 * Double($0[0] + $0[1]) }
        XCTAssertEqual(even, [16, 32])
        // A chunk that saves nothing goes last; out of reach, the first fastest widths stay.
        var flat = [32, 32]
        try Ranking.globalByLatency(&flat, scores: scores, order: order, prunable: [0, 1], floors: [1, 8],
                                    normalizer: .none, target: 0) { 100 * Double($0[1]) }
        XCTAssertEqual(flat, [32, 8], "group 0 saves nothing")
        var slowSmall = [32, 32]
        try Ranking.globalByLatency(&slowSmall, scores: scores, order: order, prunable: [0, 1], floors: [1, 1],
                                    normalizer: .none, target: 0) { 100 * Double($0[1]) + ($0[1] < 16 ? 5000 : 0) }
        XCTAssertEqual(slowSmall, [32, 16], "narrower widths that are slower are not kept")
    }

    func testLatencyTargetReachedGlobalAndLayerwise() throws {
        let (net, map, scores) = try scored()
        let table = Self.table(arch)
        for mode in [RankingMode.global, .layerwise] {
            var o = options()
            o.mode = mode
            o.targetFLOPs = nil
            o.targetLatency = 0.5
            o.floor = 0.2
            let plan = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1", latency: table)
            let before = try XCTUnwrap(plan.latencyBefore), after = try XCTUnwrap(plan.latencyAfter)
            XCTAssertLessThanOrEqual(after, 0.5 * before, "\(mode)")
            XCTAssertGreaterThan(after, 0.35 * before, "\(mode): stops near the target")
            XCTAssertEqual(after, try table.milliseconds(plan.after, batch: Self.batch, height: Self.height, width: Self.width),
                           accuracy: 1e-9)
            let counts = plan.counts(map)
            for g in map.prunable(.inner) {
                XCTAssertGreaterThanOrEqual(counts[g], Int((Double(map.groups[g].channels) * 0.2).rounded(.up)), "floor")
                if mode == .global {
                    XCTAssertTrue(counts[g] % Ranking.latencyChunk == 0 || counts[g] == Int((Double(map.groups[g].channels) * 0.2).rounded(.up)),
                                  "\(map.groups[g].name): \(counts[g]) moves by chunks")
                }
            }
            XCTAssertNil(Ranking.shortfall(plan, options: o))
            XCTAssertEqual(table.measured, 0, "a hand-made table times nothing")
        }
    }

    func testLatencyShortfallAndTargetAgainstTheUnpruned() throws {
        let (net, map, scores) = try scored()
        var o = options()
        o.targetFLOPs = nil
        o.targetLatency = 0.05
        o.floor = 0.5
        let plan = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1", latency: Self.table(arch))
        let line = try XCTUnwrap(Ranking.shortfall(plan, options: o))
        XCTAssertTrue(line.hasPrefix("the latency target 5.0% was not reached"), line)
        XCTAssertTrue(line.contains("prune.floor 0.5"), line)
        // A reference latency twice the network's: half of it is reached without pruning.
        o.targetLatency = 0.5
        o.referenceLatency = 2 * (plan.latencyBefore ?? 0)
        let none = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1", latency: Self.table(arch))
        XCTAssertEqual(none.after, arch)
    }

    func testRoundCandidates() {
        XCTAssertEqual(Ranking.roundCandidates(chosen: 143, full: 256, floor: 26, slack: 0.1), [136, 143, 144])
        XCTAssertEqual(Ranking.roundCandidates(chosen: 50, full: 64, floor: 7, slack: 0.1), [48, 50, 56, 64])
        XCTAssertEqual(Ranking.roundCandidates(chosen: 20, full: 20, floor: 2, slack: 0.2), [16, 20])
        XCTAssertEqual(Ranking.roundCandidates(chosen: 10, full: 64, floor: 10, slack: 0.5), [10, 16], "never below the floor")
        XCTAssertEqual(Ranking.roundCandidates(chosen: 9, full: 64, floor: 1, slack: 0), [9, 16], "slack 0: never narrower")
    }

    func testRoundAutoPrefersAlignedWidthsWithinTheSlackAndKeepsTheFLOPsTarget() throws {
        let (net, map, scores) = try scored()
        let table = Self.table(arch)
        var o = options()
        o.targetFLOPs = 0.5
        let plain = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1")
        o.roundAuto = true
        o.roundSlack = 0.1
        let rounded = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1", latency: table)
        XCTAssertLessThanOrEqual(Double(rounded.flopsAfter), 0.5 * Double(rounded.flopsBefore), "the target still holds")
        let chosen = plain.counts(map), counts = rounded.counts(map)
        XCTAssertNotEqual(chosen, counts, "the plain plan has unaligned widths")
        for g in map.prunable(.inner) {
            XCTAssertGreaterThanOrEqual(counts[g], Int((Double(chosen[g]) * 0.9).rounded(.up)), map.groups[g].name)
            XCTAssertTrue(counts[g] % 8 == 0 || counts[g] == chosen[g], "\(map.groups[g].name): \(chosen[g]) -> \(counts[g])")
        }
        XCTAssertLessThan(try XCTUnwrap(rounded.latencyAfter),
                          try table.milliseconds(plain.after, batch: Self.batch, height: Self.height, width: Self.width))
        // Kept channels are still the most important ones of each group.
        let g = map.index(of: "layer3.0.conv1")!
        let order = scores[g].indices.sorted { scores[g][$0] < scores[g][$1] || (scores[g][$0] == scores[g][$1] && $0 < $1) }
        XCTAssertEqual(rounded.kept["layer3.0.conv1"], Array(order.suffix(counts[g])).sorted())
    }

    func testRoundAutoSpendsTheFLOPsBudgetWhereItCostsNoTime() throws {
        // layer1's convolutions cost the same at every width (memory traffic, as thin
        // layers at large batches do): round_to auto (layer-wise ranking, slack 0.3) widens
        // its groups to their widest candidates and pays for it by narrowing groups whose
        // FLOPs cost time.
        let (net, map, scores) = try scored()
        let (oh, ow) = (Self.height / 4, Self.width / 4)
        let table = Self.table(arch) { s in
            s.outputSize == (oh, ow) && s.inChannels != 3 ? 0.5 : Self.cost(s)
        }
        var o = options()
        o.targetFLOPs = 0.5
        o.mode = .layerwise
        let chosen = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1").counts(map)
        o.roundAuto = true
        o.roundSlack = 0.3
        let rounded = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1", latency: table)
        XCTAssertLessThanOrEqual(Double(rounded.flopsAfter), 0.5 * Double(rounded.flopsBefore), "the target still holds")
        let counts = rounded.counts(map)
        var free = 0
        for g in map.prunable(.inner) where chosen[g] < map.groups[g].channels {
            let floor = max(1, Int((Double(map.groups[g].channels) * o.floor).rounded(.up)))
            let list = Ranking.roundCandidates(chosen: chosen[g], full: map.groups[g].channels, floor: floor, slack: o.roundSlack)
            XCTAssertTrue(list.contains(counts[g]), "\(map.groups[g].name): \(counts[g]) not among \(list)")
            if map.groups[g].name.hasPrefix("layer1.") {
                XCTAssertEqual(counts[g], list.last, "\(map.groups[g].name): free channels are kept")
                free += 1
            }
        }
        XCTAssertGreaterThan(free, 0, "the plan prunes layer1")
        let narrowed = map.prunable(.inner).filter { counts[$0] < chosen[$0] }
        XCTAssertFalse(narrowed.isEmpty, "the FLOPs kept in layer1 are paid for elsewhere")
        XCTAssertLessThan(try XCTUnwrap(rounded.latencyAfter),
                          try table.milliseconds(net.architecture.withGroupCounts(chosen, map: map), batch: Self.batch,
                                                 height: Self.height, width: Self.width))
    }

    func testRoundAutoJumpsOverASlowWidthToAFastOne() throws {
        // Two groups chosen at 40 of 64 channels (slack 0.2: candidates 32, 40, 48) and a
        // budget of 16 channels above the narrowest. Group 0 costs 1 ms per channel except
        // at 40, a slow width (+100 ms); group 1 costs 2 ms per channel. Moving group 0
        // straight to 48 costs 1 ms per channel kept; stepping through 40 first would look
        // dearer than widening group 1, which would then take the whole budget (128 ms).
        let full = [64, 64], floors = [7, 7]
        XCTAssertEqual(Ranking.roundCandidates(chosen: 40, full: 64, floor: 7, slack: 0.2), [32, 40, 48])
        func ms(_ c: [Int]) -> Double { Double(c[0]) + (c[0] == 40 ? 100 : 0) + 2 * Double(c[1]) }
        var counts = [40, 40]
        try Ranking.roundAuto(&counts, prunable: [0, 1], floors: floors, full: full, slack: 0.2,
                              flops: { Double($0[0] + $0[1]) }, predicted: ms, excess: { Double($0[0] + $0[1] - 80) })
        XCTAssertEqual(counts, [48, 32])
        XCTAssertEqual(ms(counts), 112)
    }

    func testRoundAutoWithAChannelCountStillRemovesThem() throws {
        // A channel count is a stop like a FLOPs target: rounding may widen groups only as
        // long as at least that many channels stay removed.
        let (net, map, scores) = try scored()
        var o = options()
        (o.targetFLOPs, o.removeChannels, o.roundAuto) = (nil, 40, true)
        let plan = try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1", latency: Self.table(arch))
        let removed = zip(map.groups, plan.counts(map)).reduce(0) { $0 + $1.0.channels - $1.1 }
        XCTAssertGreaterThanOrEqual(removed, 40)
    }

    func testLatencyNeedsATableThatCoversTheShapes() throws {
        let (net, map, scores) = try scored()
        var o = options()
        o.targetFLOPs = nil
        o.targetLatency = 0.5
        XCTAssertThrowsError(try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1")) {
            XCTAssertTrue("\($0)".contains("need a latency table"), "\($0)")
        }
        XCTAssertThrowsError(try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1",
                                              latency: LatencyTable(machine: "empty | 1 threads"))) {
            XCTAssertTrue("\($0)".hasPrefix("the latency table (empty | 1 threads) has no entry for the convolution n2 c3 k16 7x7"), "\($0)")
        }
        o.targetFLOPs = 0.5
        XCTAssertThrowsError(try Ranking.plan(scores: scores, net: net, map: map, options: o, criterion: "l1",
                                              latency: Self.table(arch))) {
            XCTAssertTrue("\($0)".contains("not both"), "\($0)")
        }
        // A timer fills what is missing, once per shape.
        var calls = 0
        let timed = LatencyTable(machine: "counting | 1 threads") { calls += 1; return Self.cost($0) }
        let ms = try timed.milliseconds(arch, batch: 2, height: 64, width: 32)
        XCTAssertEqual(try timed.milliseconds(arch, batch: 2, height: 64, width: 32), ms)
        XCTAssertEqual(calls, Set(arch.inferenceConvolutions(batch: 2, height: 64, width: 32)).count)
        XCTAssertEqual(timed.measured, calls)
    }
}
