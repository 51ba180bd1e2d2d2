// Channel groups against hand counts; masked and cut networks agree for every kind of
// group (and with folding for removed channels' constants); optimizer moments of
// surviving channels are preserved; plans round-trip and replay; criteria on hand-built
// layers; global ranking meets the FLOPs target within one channel's worth.
import Foundation
import NN
import Optim
@testable import Pruning
import Tensors
import TestSupport
import XCTest

final class PruningTests: XCTestCase {
    // The masked network keeps channel counts that qualify for Winograd while the cut one
    // does not; comparing them with one algorithm leaves only summation-order noise.
    override func setUp() { Convolution.allowWinograd = false }
    override func tearDown() { Convolution.allowWinograd = true }

    func testGroupsOfResNet18And50() {
        let r18 = GroupMap.build(.resnet(.resnet18), head: HeadConfig())
        XCTAssertEqual(r18.groups.filter { $0.kind == .inner }.count, 8, "one free group per basic block")
        XCTAssertEqual(r18.groups.filter { $0.kind == .residual }.map(\.name),
                       ["stem+layer1.residual", "layer2.residual", "layer3.residual", "layer4.residual"])
        XCTAssertEqual(r18.groups[r18.index(of: "stem+layer1.residual")!].producers.count, 3, "stem + 2 conv2")
        XCTAssertEqual(r18.groups[r18.index(of: "layer2.residual")!].producers.count, 3, "2 conv2 + downsample")
        let r50 = GroupMap.build(.resnet(.resnet50), head: HeadConfig(numClasses: 10))
        XCTAssertEqual(r50.groups.filter { $0.kind == .inner }.count, 32, "conv1 and conv2 of 16 bottlenecks")
        XCTAssertEqual(r50.groups.filter { $0.kind == .residual }.map(\.name),
                       ["layer1.residual", "layer2.residual", "layer3.residual", "layer4.residual", "stem"])
        let l3 = r50.groups[r50.index(of: "layer3.residual")!]
        XCTAssertEqual(l3.channels, 1024)
        XCTAssertEqual(l3.producers.count, 7, "6 conv3 + the downsample")
        XCTAssertEqual(r50.groups[r50.index(of: "layer2.3.conv2")!].channels, 128)
        // Consumers: layer3.residual feeds layer3.{1..5}.conv1 and layer4.0's conv1 and downsample.
        let g = r50.index(of: "layer3.residual")!
        let consumers = r50.axes.filter { $0.value.1 == g }.map(\.key).sorted()
        XCTAssertEqual(consumers, ["layer3.1.conv1.weight", "layer3.2.conv1.weight", "layer3.3.conv1.weight",
                                   "layer3.4.conv1.weight", "layer3.5.conv1.weight", "layer4.0.conv1.weight",
                                   "layer4.0.downsample.0.weight"])
        let last = r50.index(of: "layer4.residual")!
        XCTAssertEqual(r50.axes["classifier.weight"]?.1, last)
        XCTAssertEqual(r50.axes["bnneck.running_var"]?.0, last)
    }

    /// A tiny trained-looking network: random weights, non-trivial BN statistics.
    func net(_ arch: ResNetArchitecture, seed: UInt64 = 3) throws -> ReIDNet {
        let n = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 5), seed: seed)
        var rng = SeededRandom(seed: seed, keys: 1)  // a stream apart from the weights' one
        let s = n.store
        for (i, slot) in s.parameterSlots.enumerated() where slot.name.hasSuffix("bias") || s.parameterRoles[i] == .normWeight {
            let t = s.parameter(i)
            for k in 0..<t.count { t[k] = slot.name.hasSuffix("bias") ? rng.uniform(-0.3, 0.3) : rng.uniform(0.5, 1.5) }
        }
        s.parameter(s.lookup("bnneck.bias")!.index).zero()
        for (i, slot) in s.bufferSlots.enumerated() where s.bufferRoles[i] != .batchCount {
            let t = s.buffer(i)
            for k in 0..<t.count { t[k] = slot.name.hasSuffix("running_var") ? rng.uniform(0.5, 2) : rng.uniform(-0.2, 0.2) }
        }
        s.parametersChanged()
        return n
    }

    /// Zeroes the channels a plan removes: producer filters, and (unless `keepShift`)
    /// their BN scale and shift, so that they output exactly zero.
    func mask(_ n: ReIDNet, _ plan: PrunePlan, keepShift: Bool = false) {
        let map = GroupMap.build(n.architecture, head: n.headConfig)
        let s = n.store
        for (name, keep) in plan.kept {
            let g = map.groups[map.index(of: name)!]
            let removed = Set(0..<g.channels).subtracting(keep)
            for p in g.producers {
                let w = s.parameter(s.lookup("\(p[0]).weight")!.index)
                let per = w.count / g.channels
                for c in removed { (w.data + c * per).update(repeating: 0, count: per) }
                if !keepShift {
                    for part in ["weight", "bias"] {
                        let t = s.parameter(s.lookup("\(p[1]).\(part)")!.index)
                        for c in removed { t[c] = 0 }
                    }
                }
            }
        }
        s.parametersChanged()
    }

    func plan(_ n: ReIDNet, groups: [String], seed: UInt64 = 1) throws -> PrunePlan {
        let map = GroupMap.build(n.architecture, head: n.headConfig)
        var rng = SeededRandom(seed: seed)
        var kept: [String: [Int]] = [:]
        var counts = map.groups.map(\.channels)
        for name in groups {
            let g = map.index(of: name)!
            let c = map.groups[g].channels
            let keep = Array((0..<c).filter { _ in rng.uniform(-1, 1) > 0.4 }.prefix(c - 1))
            kept[name] = keep.isEmpty ? [0] : keep
            counts[g] = kept[name]!.count
        }
        let after = n.architecture.withGroupCounts(counts, map: map)
        return PrunePlan(before: n.architecture, after: after, head: n.headConfig, kept: kept, criterion: "test",
                         ranking: "test", flopsBefore: 0, flopsAfter: 0)
    }

    /// Features and embeddings (only the `columns` kept, when the last stage was pruned)
    /// and logits.
    func outputs(_ n: ReIDNet, _ x: Tensor, _ mode: Mode, columns: [Int]? = nil) throws -> [Float] {
        let o = try n.forward(x, mode: mode)
        func pick(_ t: Tensor) -> [Float] {
            guard let columns else { return t.toArray() }
            let d = t.shape[1]
            return (0..<t.shape[0]).flatMap { r in columns.map { t[r * d + $0] } }
        }
        return pick(o.features) + pick(o.embeddings) + (o.logits?.toArray() ?? [])
    }

    func testMaskedAndCutNetworksAgreeForEveryKindOfGroup() throws {
        var rng = SeededRandom(seed: 9)
        // Batch 16: training-mode BN over a few images amplifies summation-order noise.
        let x = rng.tensor([16, 64, 32, 3], .nhwc)
        let cases: [(ResNetArchitecture, [String])] = [
            (.resnet(block: .bottleneck, blocks: [1, 2, 1, 1], baseWidth: 8), ["layer2.1.conv1"]),  // 3x3 consumer
            (.resnet(block: .bottleneck, blocks: [1, 2, 1, 1], baseWidth: 8), ["layer2.1.conv2"]),  // 1x1 consumer
            (.resnet(block: .bottleneck, blocks: [1, 2, 1, 1], baseWidth: 8), ["layer2.residual"]),
            (.resnet(block: .bottleneck, blocks: [1, 2, 1, 1], baseWidth: 8), ["stem", "layer4.residual"]),
            (.resnet(.resnet18, baseWidth: 8), ["layer3.0.conv1", "stem+layer1.residual", "layer4.residual"]),
        ]
        for (arch, groups) in cases {
            for mode in [Mode.inference, .training] {
                let reference = try net(arch)
                let p = try plan(reference, groups: groups)
                let cut = try Surgery.apply(p, to: reference)
                mask(reference, p)
                let last = groups.first { $0.hasPrefix("layer4.residual") }.map { p.kept[$0]! }
                let a = try outputs(reference, x, mode, columns: last), b = try outputs(cut, x, mode)
                XCTAssertLessThanOrEqual(relativeError(b, a), 1e-5, "\(groups) \(mode)")
            }
        }
    }

    func testFoldingRemovedChannelConstantsIntoOneByOneConsumers() throws {
        var rng = SeededRandom(seed: 10)
        let x = rng.tensor([4, 64, 32, 3], .nhwc)
        let arch = ResNetArchitecture.resnet(block: .bottleneck, blocks: [1, 2, 1, 1], baseWidth: 8)
        let reference = try net(arch)
        let p = try plan(reference, groups: ["layer2.1.conv2", "layer1.0.conv2"])
        let folded = try Surgery.apply(p, to: reference, fold: true)
        let unfolded = try Surgery.apply(p, to: reference, fold: false)
        mask(reference, p, keepShift: true)  // removed channels keep emitting relu(beta - gamma mu / sigma)
        let a = try outputs(reference, x, .inference)
        XCTAssertLessThanOrEqual(relativeError(try outputs(folded, x, .inference), a), 1e-5)
        XCTAssertGreaterThan(relativeError(try outputs(unfolded, x, .inference), a), 1e-3, "the constants matter")
    }

    func testMomentsOfSurvivingChannelsArePreserved() throws {
        let n = try net(.resnet(.resnet18, baseWidth: 4))
        let adam = Adam(store: n.store, learningRate: 1e-3)
        var rng = SeededRandom(seed: 4)
        for i in 0..<(n.store.parameterCapacity) { n.store.gradients[i] = rng.uniform(-1, 1) }
        adam.step()
        let p = try plan(n, groups: ["layer2.0.conv1", "layer3.residual"])
        let cut = try Surgery.apply(p, to: n)
        let oldW = n.store.moment("exp_avg", n.store.lookup("layer3.1.conv1.weight")!.index)  // [8, 16, 3, 3]... consumer of layer3.residual
        let newW = cut.store.moment("exp_avg", cut.store.lookup("layer3.1.conv1.weight")!.index)
        let keep = p.kept["layer3.residual"]!
        let (o, i) = (oldW.shape[0], oldW.shape[1])
        for out in 0..<o {
            for (j, c) in keep.enumerated() {
                for t in 0..<9 { XCTAssertEqual(newW[(out * keep.count + j) * 9 + t], oldW[(out * i + c) * 9 + t]) }
            }
        }
        let oldV = n.store.moment("exp_avg_sq", n.store.lookup("layer2.0.bn1.weight")!.index)
        let newV = cut.store.moment("exp_avg_sq", cut.store.lookup("layer2.0.bn1.weight")!.index)
        for (j, c) in p.kept["layer2.0.conv1"]!.enumerated() { XCTAssertEqual(newV[j], oldV[c]) }
    }

    func testPlansRoundTripAndReplay() throws {
        let n = try net(.resnet(.resnet18, baseWidth: 4))
        let p1 = try plan(n, groups: ["layer2.0.conv1", "layer4.residual"])
        let bytes = try p1.encoded()
        XCTAssertEqual(try PrunePlan.decode(bytes), p1)
        XCTAssertEqual(try PrunePlan.decode(bytes).encoded(), bytes, "encoding is deterministic")
        let cut1 = try Surgery.apply(p1, to: n)
        let p2 = try plan(cut1, groups: ["layer1.1.conv1"], seed: 2)
        let history = try PrunePlan.decodeHistory(try PrunePlan.encodeHistory([p1, p2]))
        XCTAssertEqual(try PrunePlan.replay(history, from: n.architecture), p2.after)
        XCTAssertThrowsError(try PrunePlan.replay([p2], from: n.architecture))
        let rebuilt = try ReIDNet(architecture: try PrunePlan.replay(history, from: n.architecture), head: n.headConfig)
        XCTAssertEqual(rebuilt.store.parameterCount, try Surgery.apply(p2, to: cut1).store.parameterCount)
    }

    func testWeightCriteriaOnAHandBuiltLayer() throws {
        let n = try net(.resnet(.resnet18, baseWidth: 4))
        let map = GroupMap.build(n.architecture, head: n.headConfig)
        let g = map.index(of: "layer1.0.conv1")!
        let s = n.store
        let w = s.parameter(s.lookup("layer1.0.conv1.weight")!.index)  // [4, 4, 3, 3]
        // Filter c: every weight c + 1, except filter 3 whose first weight is -10 and the rest 0.
        for c in 0..<4 { for t in 0..<36 { w[c * 36 + t] = c == 3 ? (t == 0 ? -10 : 0) : Float(c + 1) } }
        let gamma = s.parameter(s.lookup("layer1.0.bn1.weight")!.index)
        for c in 0..<4 { gamma[c] = [0.5, -2, 1, 0][c] }
        XCTAssertEqual(WeightCriterion.scores(.l1, net: n, map: map)[g], [36, 72, 108, 10])
        let l2 = WeightCriterion.scores(.l2, net: n, map: map)[g]
        for (a, e) in zip(l2, [6.0, 12, 18, 10]) { XCTAssertEqual(a, e, accuracy: 1e-9) }
        XCTAssertEqual(WeightCriterion.scores(.bnScale, net: n, map: map)[g], [0.5, 2, 1, 0])
        // FPGM: distances between constant filters are 6 |a - b|; to filter 3, sqrt(36 a^2 + 20 a + 100)... computed here.
        func d(_ a: Int, _ b: Int) -> Double {
            var s = 0.0
            for t in 0..<36 {
                let x = Double(a == 3 ? (t == 0 ? -10 : 0) : a + 1) - Double(b == 3 ? (t == 0 ? -10 : 0) : b + 1)
                s += x * x
            }
            return s.squareRoot()
        }
        let fpgm = WeightCriterion.scores(.fpgm, net: n, map: map)[g]
        for c in 0..<4 { XCTAssertEqual(fpgm[c], (0..<4).filter { $0 != c }.map { d(c, $0) }.reduce(0, +), accuracy: 1e-9) }
        XCTAssertEqual(d(0, 1), 6, accuracy: 1e-12)
    }

    func testDataCriteriaOnHandBuiltActivations() throws {
        let n = try net(.resnet(.resnet18, baseWidth: 4))
        let map = GroupMap.build(n.architecture, head: n.headConfig)
        let g = map.index(of: "layer1.0.conv1")!
        let taylor = DataCriterion(.taylor, net: n, map: map)
        // Two images, 1x2 positions, 4 channels: y * dy per position.
        let y = Tensor(shape: [2, 1, 2, 4], layout: .nhwc, values: [1, 2, 3, 4, 1, 2, 3, 4, 1, 1, 1, 1, -1, -1, -1, -1])
        let dy = Tensor(shape: [2, 1, 2, 4], layout: .nhwc, values: [1, 1, 1, 1, -1, 1, 1, 1, 2, 0, 0, 0, 2, 0, 0, 0])
        taylor.taylor(g, y, dy)
        // Image 0: channel 0: (1 - 1)/2 = 0; channel 1: (2 + 2)/2 = 2; 2: 3; 3: 4. Image 1: channel 0: (2 - 2)/2 = 0.
        XCTAssertEqual(taylor.sums[g], [0, 2, 3, 4])
        taylor.detach()
        // BN Taylor: (gamma dgamma + beta dbeta)^2 per batch, summed over batches.
        let bn = DataCriterion(.bnTaylor, net: n, map: map)
        let s = n.store
        let gi = s.lookup("layer1.0.bn1.weight")!.index, bi = s.lookup("layer1.0.bn1.bias")!.index
        for c in 0..<4 {
            s.parameter(gi)[c] = Float(c + 1); s.gradient(gi)[c] = 0.5
            s.parameter(bi)[c] = 1; s.gradient(bi)[c] = Float(c)
        }
        bn.batchDone(images: 2)
        bn.batchDone(images: 2)
        // Channel c: (0.5 (c + 1) + c)^2, twice.
        XCTAssertEqual(bn.sums[g], (0..<4).map { c in 2 * pow(0.5 * Double(c + 1) + Double(c), 2) })
        XCTAssertEqual(bn.images, 4)
        bn.detach()
        // Random: uniform in [0, 1), the same for the same seed.
        let r1 = WeightCriterion.scores(.random, net: n, map: map, seed: 5), r2 = WeightCriterion.scores(.random, net: n, map: map, seed: 5)
        XCTAssertEqual(r1, r2)
        XCTAssertTrue(r1.flatMap { $0 }.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertNotEqual(r1, WeightCriterion.scores(.random, net: n, map: map, seed: 6))
        // Entropy: values 0, 1 equally often in 2 bins -> ln 2; a constant channel -> 0.
        let e = DataCriterion.entropy([0, 5, 1, 5, 0, 5, 1, 5], channels: 2, bins: 2)
        XCTAssertEqual(e[0], log(2), accuracy: 1e-12)
        XCTAssertEqual(e[1], 0)
    }

    func testGlobalRankingMeetsTheTargetWithinOneChannel() throws {
        let n = try net(.resnet(.resnet50, baseWidth: 8))
        let map = GroupMap.build(n.architecture, head: n.headConfig)
        let scores = WeightCriterion.scores(.l1, net: n, map: map)
        for scope in [PruneScope.inner, .all] {
            for target in [0.75, 0.5, 0.3] {
                var o = RankingOptions()
                o.scope = scope
                o.floor = 0
                o.targetFLOPs = target
                o.height = 64
                o.width = 32
                let p = try Ranking.plan(scores: scores, net: n, map: map, options: o, criterion: "l1")
                let limit = Double(p.flopsBefore) * target
                XCTAssertLessThanOrEqual(Double(p.flopsAfter), limit, "\(scope) \(target)")
                // Within one channel's worth: the FLOPs are short of the target by less than
                // what any one removed channel costs.
                let counts = p.counts(map)
                var largestStep = 0
                for g in map.prunable(scope) where counts[g] < map.groups[g].channels {
                    var more = counts
                    more[g] += 1
                    largestStep = max(largestStep, FLOPsCounter.count(n.architecture.withGroupCounts(more, map: map),
                                                                      height: 64, width: 32).flops - p.flopsAfter)
                }
                XCTAssertLessThanOrEqual(limit - Double(p.flopsAfter), Double(largestStep), "\(scope) \(target)")
                XCTAssertEqual(try PrunePlan.replay([p], from: n.architecture), p.after)
                XCTAssertNil(Ranking.shortfall(p, options: o), "a reached target is no shortfall")
            }
        }
        // A target below what the floors allow: the plan stops at the floors and says so.
        var low = RankingOptions()
        low.floor = 0
        low.targetFLOPs = 0.01
        low.height = 64
        low.width = 32
        let floored = try Ranking.plan(scores: scores, net: n, map: map, options: low, criterion: "l1")
        for g in map.prunable(.inner) { XCTAssertEqual(floored.counts(map)[g], 1) }
        let message = try XCTUnwrap(Ranking.shortfall(floored, options: low))
        XCTAssertTrue(message.hasPrefix("the FLOPs target 1.0% was not reached: pruning stopped at "), message)
        XCTAssertTrue(message.contains("at its floor (prune.floor 0.0, at least one channel)"), message)
        // A channel count instead of a FLOPs target.
        var byCount = RankingOptions()
        byCount.targetFLOPs = nil
        byCount.removeChannels = 50
        byCount.height = 64
        byCount.width = 32
        let counted = try Ranking.plan(scores: scores, net: n, map: map, options: byCount, criterion: "l1")
        XCTAssertEqual(zip(map.groups, counted.counts(map)).reduce(0) { $0 + $1.0.channels - $1.1 }, 50)
        var o = RankingOptions()
        o.mode = .layerwise
        o.roundTo = 8
        o.height = 64
        o.width = 32
        let p = try Ranking.plan(scores: scores, net: n, map: map, options: o, criterion: "l1")
        for (g, c) in p.counts(map).enumerated() where map.groups[g].kind == .inner { XCTAssertEqual(c % 8, 0) }
    }
}

/// Training-time criteria: slimming's BN penalty, the auto-balanced regularizer and soft
/// filter pruning's rate and zeroing, on hand-built values.
final class TrainingTimeCriteriaTests: XCTestCase {
    func testPenaltiesAndSoftZeroing() throws {
        let n = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true, numClasses: 3))
        let map = GroupMap.build(n.architecture, head: n.headConfig)
        let g = map.index(of: "layer1.0.conv1")!
        let s = n.store
        let gi = s.lookup("layer1.0.bn1.weight")!.index, wi = s.lookup("layer1.0.conv1.weight")!.index
        let gamma = s.parameter(gi)
        for c in 0..<4 { gamma[c] = [0.5, -2, 0, 1][c] }
        s.zeroGradients()
        TrainingTimeCriteria.addBNScalePenalty(n, map: map, groups: [g], lambda: 0.1)
        XCTAssertEqual(s.gradient(gi).toArray(), [0.1, -0.1, 0, 0.1])

        // Filters with L1 norms 36, 72, 108, 144; channels 0 and 1 weak. Weak thetas 1 + ln(72 / n):
        // 1 + ln 2 = 1.6931472, 1; strong 1 + ln(n / 108): 1, 1 + ln(4/3) = 1.2876821, scaled by
        // (2.6931472 / 2.2876821) = 1.1772384: -1.1772384, -1.5159088. Gradient += alpha theta w.
        let w = s.parameter(wi)
        for c in 0..<4 { for t in 0..<36 { w[c * 36 + t] = Float(c + 1) } }
        s.zeroGradients()
        var weak = map.groups.map { _ in [Int]() }
        weak[g] = [1, 0]
        let scores = WeightCriterion.scores(.l1, net: n, map: map)
        let theta = TrainingTimeCriteria.autoBalancedCoefficients(norms: scores[g], weak: weak[g])
        for (a, b) in zip(theta, [1.6931472, 1, -1.1772384, -1.5159088]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(theta.reduce(0, +), 0, accuracy: 1e-12, "balanced: the coefficients sum to zero")
        TrainingTimeCriteria.addAutoBalancedPenalty(n, map: map, weak: weak, scores: scores, alpha: 0.5)
        let grad = s.gradient(wi)
        XCTAssertEqual(grad[0], 0.5 * 1.6931472 * 1, accuracy: 1e-5)
        XCTAssertEqual(grad[36], 0.5 * 1 * 2, accuracy: 1e-5)
        XCTAssertEqual(grad[72], 0.5 * -1.1772384 * 3, accuracy: 1e-5)
        XCTAssertEqual(grad[108], 0.5 * -1.5159088 * 4, accuracy: 1e-5)
        XCTAssertEqual(TrainingTimeCriteria.autoBalancedCoefficients(norms: [1, 2], weak: []), [0, 0], "nothing weak: no penalty")

        XCTAssertEqual(TrainingTimeCriteria.softRate(final: 0.5, epoch: 0, total: 10), 0)
        XCTAssertEqual(TrainingTimeCriteria.softRate(final: 0.5, epoch: 10, total: 10), 0.5, accuracy: 1e-12)
        XCTAssertLessThan(TrainingTimeCriteria.softRate(final: 0.5, epoch: 5, total: 10), 0.5)
        XCTAssertGreaterThan(TrainingTimeCriteria.softRate(final: 0.5, epoch: 5, total: 10), 0.25, "exponential: fast early")

        var shares = map.groups.map { _ in 0.0 }
        shares[g] = 0.5
        TrainingTimeCriteria.zeroWeakest(n, map: map, groups: [g], shares: shares)
        XCTAssertEqual((0..<36).map { w[$0] }, Array(repeating: 0, count: 36), "the weakest filter is zeroed")
        XCTAssertEqual((36..<72).map { w[$0] }, Array(repeating: 0, count: 36))
        XCTAssertEqual(w[72], 3, "stronger filters stay")
    }

    /// PSFP's schedule set by its quarter point: P(D) = final / 4, P(0) = 0, P(T) = final.
    func testSoftFilterScheduleFromItsQuarterPoint() throws {
        // k = 4 over T = 8 epochs reaches a quarter of the rate at D = -(T/k) ln(1 - (1 - e^-4) / 4) = 0.5631908.
        XCTAssertEqual(try TrainingTimeCriteria.softK(quarterEpoch: 0.5631908415854004, total: 8), 4, accuracy: 1e-6)
        // k = -2 (slow start): D = -(8/-2) ln(1 - (1 - e^2) / 4) = 3.8178344.
        XCTAssertEqual(try TrainingTimeCriteria.softK(quarterEpoch: 3.817834371172962, total: 8), -2, accuracy: 1e-6)
        XCTAssertEqual(try TrainingTimeCriteria.softK(quarterEpoch: 2, total: 8), 0, accuracy: 1e-6, "T/4: linear")
        for (d, total) in [(1.0, 8), (3.0, 10), (0.5, 4)] {
            let k = try TrainingTimeCriteria.softK(quarterEpoch: d, total: total)
            // The rate at the quarter point (epoch d as a fraction of the run).
            let t = d / Double(total)
            let rate = abs(k) < 1e-9 ? 0.4 * t : 0.4 * (1 - exp(-k * t)) / (1 - exp(-k))
            XCTAssertEqual(rate, 0.1, accuracy: 1e-9, "quarter of 0.4 at epoch \(d) of \(total)")
            XCTAssertEqual(TrainingTimeCriteria.softRate(final: 0.4, epoch: total, total: total, k: k), 0.4, accuracy: 1e-12)
            XCTAssertEqual(TrainingTimeCriteria.softRate(final: 0.4, epoch: 0, total: total, k: k), 0, accuracy: 1e-12)
        }
        XCTAssertEqual(TrainingTimeCriteria.softRate(final: 0.4, epoch: 2, total: 8, k: 0), 0.1, accuracy: 1e-12)
        XCTAssertThrowsError(try TrainingTimeCriteria.softK(quarterEpoch: 9, total: 8)) {
            XCTAssertTrue("\($0)".contains("prune.soft_quarter_epoch must be in (0, 8)"), "\($0)")
        }
    }
}

/// Each criterion's own ranking, the default floor and the warning naming collapsed groups.
final class RankingDefaultsTests: XCTestCase {
    func testEveryCriterionRanksAsItsPaper() {
        let expected: [CriterionKind: (RankingMode, Normalizer)] = [
            .l1: (.layerwise, .none), .l2: (.layerwise, .none), .fpgm: (.layerwise, .none), .entropy: (.layerwise, .none),
            .softFilter: (.layerwise, .none), .autoBalanced: (.layerwise, .none), .random: (.layerwise, .none),
            .taylor: (.global, .l2), .bnScale: (.global, .none), .bnTaylor: (.global, .none),
        ]
        XCTAssertEqual(Set(expected.keys), Set(CriterionKind.allCases))
        for (kind, (mode, normalizer)) in expected {
            XCTAssertEqual(kind.defaultRanking.mode, mode, kind.rawValue)
            XCTAssertEqual(kind.defaultRanking.normalizer, normalizer, kind.rawValue)
        }
    }

    func testDefaultFloorKeepsEveryGroupAndZeroFloorWarnsNamingGroups() throws {
        let n = try ReIDNet(architecture: .resnet(.resnet50, baseWidth: 8), head: HeadConfig(bnneck: true))
        let map = GroupMap.build(n.architecture, head: n.headConfig)
        // Scores that make layer4's inner groups the cheapest by far: global ranking takes them first.
        let scores = map.groups.map { g in
            (0..<g.channels).map { Double($0 + 1) * (g.name.hasPrefix("layer4") ? 1e-6 : 1) }
        }
        var o = RankingOptions()
        o.targetFLOPs = 0.5
        o.normalizer = .none
        o.height = 64
        o.width = 32
        XCTAssertEqual(o.floor, 0.1, "the default floor")
        let kept = try Ranking.plan(scores: scores, net: n, map: map, options: o, criterion: "l1")
        let counts = kept.counts(map)
        for g in map.prunable(.inner) {
            XCTAssertGreaterThanOrEqual(counts[g], Int((0.1 * Double(map.groups[g].channels)).rounded(.up)), map.groups[g].name)
        }
        XCTAssertNil(Ranking.collapsed(kept))
        XCTAssertLessThanOrEqual(Double(kept.flopsAfter), 0.5 * Double(kept.flopsBefore))
        o.floor = 0
        let bare = try Ranking.plan(scores: scores, net: n, map: map, options: o, criterion: "l1")
        let bareCounts = bare.counts(map)
        let l4 = map.index(of: "layer4.0.conv1")!
        XCTAssertEqual(bareCounts[l4], 1, "without a floor, layer4 collapses")
        let warning = try XCTUnwrap(Ranking.collapsed(bare))
        XCTAssertTrue(warning.contains("keep less than 10% of their channels"), warning)
        XCTAssertTrue(warning.contains("layer4.0.conv1 (1 of \(map.groups[l4].channels))"), warning)
        XCTAssertFalse(warning.contains("layer1.0.conv1 "), warning)
    }
}
