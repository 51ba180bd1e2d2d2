// What bf16 training keeps for backward: each unit's convolution output rounded to
// bfloat16 (as a bf16 kernel's output) before BN reads it, packed in half the memory.
// The forward and backward then see the same values: the output recomputed in backward
// equals the forward's bit for bit, a backward whose convolution output is computed
// again equals one from the packed copy, a whole network's gradients do not depend on
// how often outputs are recomputed, and the network's pool needs less memory than fp32's.
@testable import NN
import Tensors
import TestSupport
import XCTest

final class BF16SavedActivationTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(Precision.nativeBF16, "bf16 training needs native bfloat16 (AVX512_BF16 or AMX); oneDNN's best "
                          + "instruction set here is \(Precision.effectiveISA)")
    }

    private func unit(relu: Bool, recompute: Bool = false) -> (ConvBN, ParameterStore) {
        let store = ParameterStore()
        let u = ConvBN(store: store, conv: "conv", bn: "bn", inChannels: 16, outChannels: 32, kernel: 3, stride: 2,
                       padding: 1, relu: relu)
        store.allocate()
        var rng = SeededRandom(seed: 3)
        u.initialize(&rng)
        let (_, gi, bi) = u.parameterIndices
        for k in 0..<32 {
            store.parameter(gi)[k] = Float(rng.uniform(-1.5, 1.5) as Double)
            store.parameter(bi)[k] = Float(rng.uniform(-0.5, 0.5) as Double)
        }
        u.precision = .bf16
        u.recomputesConvolution = recompute
        return (u, store)
    }

    func testRecomputedOutputEqualsTheForwardsAndBNSawRoundedValues() throws {
        for relu in [false, true] {
            let (u, _) = unit(relu: relu)
            let pool = TensorPool()
            var rng = SeededRandom(seed: 11)
            let x = rng.tensor([4, 12, 10, 16], .nhwc, -2, 2)
            let y = try u.forwardTraining(x, pool: pool)
            let kept = y.toArray()
            pool.give(y)
            let again = u.recomputeOutput(pool: pool)
            XCTAssertEqual(again.toArray().map(\.bitPattern), kept.map(\.bitPattern), "relu \(relu)")
            pool.give(again)

            // The same unit in fp32 from a convolution output rounded to bf16 by hand:
            // BN of the rounded values is what the bf16 forward produced.
            let (v, _) = unit(relu: relu)
            v.precision = .fp32
            var g = ConvGeometry(batch: 4, inChannels: 16, height: 12, width: 10, outChannels: 32, kernel: 3, stride: 2,
                                 padding: 1)
            g.precision = .bf16
            let c = Tensor(shape: g.outputShape, layout: .nhwc)
            Convolution.forward(g, x: x, weight: v.store.parameter(v.parameterIndices.weight), y: c)
            let rounded = BFloat16Rounding.rounded(c)
            XCTAssertNotEqual(rounded.toArray(), c.toArray())
            let bg = BatchNormGeometry(batch: 4, height: 6, width: 5, channels: 32, epsilon: v.epsilon, fuseReLU: relu)
            let expected = Tensor(shape: g.outputShape, layout: .nhwc)
            let (_, gi, bi) = v.parameterIndices
            let mean = Tensor(shape: [32], layout: .x), variance = Tensor(shape: [32], layout: .x)
            BatchNorm.forwardTraining(bg, x: rounded, gamma: v.store.parameter(gi), beta: v.store.parameter(bi),
                                      y: expected, mean: mean, variance: variance,
                                      workspace: relu ? BatchNorm.makeWorkspace(bg) : nil)
            XCTAssertEqual(kept.map(\.bitPattern), expected.toArray().map(\.bitPattern), "relu \(relu)")
        }
    }

    func testBackwardFromThePackedCopyEqualsBackwardWithTheConvolutionRecomputed() throws {
        for relu in [false, true] {
            var results: [[[UInt32]]] = []
            for recompute in [false, true] {
                let (u, store) = unit(relu: relu, recompute: recompute)
                let pool = TensorPool()
                var rng = SeededRandom(seed: 11)
                let x = rng.tensor([4, 12, 10, 16], .nhwc, -2, 2)
                let y = try u.forwardTraining(x, pool: pool)
                let dy = rng.tensor(y.shape, .nhwc, -1, 1)
                pool.give(y)
                let dx = try u.backward(dy, input: x, pool: pool)!
                let (w, g, b) = u.parameterIndices
                results.append([dx.toArray(), store.gradient(w).toArray(), store.gradient(g).toArray(),
                                store.gradient(b).toArray()].map { $0.map(\.bitPattern) })
                pool.give(dx)
            }
            XCTAssertEqual(results[0], results[1], "relu \(relu)")
        }
    }

    /// Gradients of a small bottleneck network after one step (with observers that make
    /// every inner unit recompute its output once more, and check it against the forward's
    /// when asked), and the pool's size.
    private func step(_ precision: Precision, observe: Bool) throws -> (grads: [[UInt32]], mismatches: Int, pool: Int) {
        let arch = ResNetArchitecture.resnet(block: .bottleneck, blocks: [2, 1, 1, 1], baseWidth: 8)
        let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 4), seed: 5)
        net.precision = precision
        var mismatches = 0
        var forwardOutputs: [ObjectIdentifier: [UInt32]] = [:]
        let lastUnits = Set(net.backbone.blocks.flatMap { $0 }.map { ObjectIdentifier($0.units.last!) })
        if observe {
            for u in net.backbone.units where !lastUnits.contains(ObjectIdentifier(u)) {
                let id = ObjectIdentifier(u)
                u.onForward = { y in forwardOutputs[id] = y.toArray().map(\.bitPattern) }
                u.onBackward = { y, _ in if forwardOutputs[id] != y.toArray().map(\.bitPattern) { mismatches += 1 } }
            }
        }
        var rng = SeededRandom(seed: 2)
        let x = rng.tensor([8, 64, 32, 3], .nhwc, -2, 2)
        let out = try net.forward(x, mode: .training)
        let dLogits = Tensor(shape: out.logits!.shape, layout: .nc)
        let dFeatures = Tensor(shape: out.features.shape, layout: .nc)
        _ = CrossEntropyLoss(epsilon: 0.1)(logits: out.logits!, labels: [0, 1, 2, 3, 0, 1, 2, 3], gradient: dLogits)
        _ = try TripletLoss(margin: 0.3)(features: out.features, labels: [0, 0, 1, 1, 2, 2, 3, 3], gradient: dFeatures)
        try net.backward(dFeatures: dFeatures, dLogits: dLogits)
        let grads = net.store.parameterSlots.indices.map { net.store.gradient($0).toArray().map(\.bitPattern) }
        return (grads, mismatches, net.pool.bytes)
    }

    func testNetworkGradientsDoNotDependOnRecomputationAndThePoolShrinks() throws {
        let plain = try step(.bf16, observe: false)
        let observed = try step(.bf16, observe: true)
        XCTAssertEqual(observed.mismatches, 0, "outputs recomputed in backward differ from the forward's")
        XCTAssertEqual(plain.grads, observed.grads)
        XCTAssertTrue(plain.grads.contains { $0.contains { $0 != 0 } })
        let fp32 = try step(.fp32, observe: false)
        // Convolution outputs are most of what training keeps: half of them is saved.
        XCTAssertLessThan(Double(plain.pool), 0.85 * Double(fp32.pool), "bf16 pool \(plain.pool) B, fp32 \(fp32.pool) B")
    }
}
