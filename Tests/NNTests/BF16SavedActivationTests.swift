// What bf16 training keeps for backward: each unit's convolution output rounded to
// bfloat16 (as a bf16 kernel's output) before BN reads it, and each block's output (and
// the pooled stem output) rounded after the residual ReLU, all packed in half the memory.
// The forward and backward then see the same values: the outputs used in backward equal
// the forward's bit for bit, a backward from packed copies equals one from float32 ones,
// a whole network's gradients do not depend on how often outputs are recomputed, every
// pool tensor goes back, repeated steps do not grow the pool, and the pool saves about
// half the convolution and block outputs of fp32's.
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

    private let arch = ResNetArchitecture.resnet(block: .bottleneck, blocks: [2, 1, 1, 1], baseWidth: 8)
    private let batch = [8, 64, 32, 3]

    /// `observedTrainingSteps` of the small bottleneck network (or `arch`) on this file's batch.
    private func step(_ precision: Precision, observe: Bool, steps: Int = 1, arch: ResNetArchitecture? = nil) throws
        -> ObservedSteps {
        var rng = SeededRandom(seed: 2)
        return try observedTrainingSteps(arch ?? self.arch, precision: precision, observe: observe, steps: steps,
                                         images: rng.tensor(batch, .nhwc, -2, 2), classes: [0, 1, 2, 3, 0, 1, 2, 3],
                                         identities: [0, 0, 1, 1, 2, 2, 3, 3])
    }

    func testNetworkGradientsDoNotDependOnRecomputationAndThePoolShrinks() throws {
        let plain = try step(.bf16, observe: false)
        let observed = try step(.bf16, observe: true)
        XCTAssertEqual(observed.mismatches, 0, "outputs recomputed in backward differ from the forward's")
        XCTAssertEqual(plain.grads, observed.grads)
        XCTAssertTrue(plain.grads.contains { $0.contains { $0 != 0 } })
        let fp32 = try step(.fp32, observe: false)
        // Convolution outputs are most of what training keeps: half of them is saved.
        XCTAssertLessThan(Double(plain.pool[0]), 0.85 * Double(fp32.pool[0]), "bf16 pool \(plain.pool) B, fp32 \(fp32.pool) B")
    }

    /// Bytes of the activations training keeps in fp32 for `arch` at `batch`: every unit's
    /// convolution output but the stem's (recomputed), and the pooled stem output with every
    /// block output but the last (the feature map), each in whole pages; and their count.
    private func keptActivations(_ net: ReIDNet) -> (conv: Int, blocks: Int, tensors: Int) {
        func bytes(_ shape: [Int]) -> Int { PageBuffer.rounded(shape.reduce(1, *) * 4) }
        let (sh, sw) = net.backbone.stem.outputSize(batch[1], batch[2])
        let pg = PoolGeometry(batch: batch[0], height: sh, width: sw, channels: net.backbone.stem.outChannels)
        var shape = pg.outputShape
        var conv = 0, outputs = [bytes(shape)], tensors = 1
        for block in net.backbone.blocks.joined() {
            var (h, w) = (shape[1], shape[2])
            if let d = block.downsample {
                let (dh, dw) = d.outputSize(h, w)
                conv += bytes([batch[0], dh, dw, d.outChannels])
                tensors += 1
            }
            for u in block.units {
                (h, w) = u.outputSize(h, w)
                conv += bytes([batch[0], h, w, u.outChannels])
                tensors += 1
            }
            shape = [batch[0], h, w, block.units.last!.outChannels]
            outputs.append(bytes(shape))
            tensors += 1
        }
        return (conv, outputs.dropLast().reduce(0, +), tensors)
    }

    func testBlockOutputsArePackedAndThePoolGivesThemBack() throws {
        // ResNet-50's blocks at a fraction of its width: what is kept for backward then
        // makes the pool's peak, as at full size.
        let deep = ResNetArchitecture.resnet(block: .bottleneck, blocks: [3, 4, 6, 3], baseWidth: 8)
        let bf16 = try step(.bf16, observe: false, steps: 3, arch: deep)
        let fp32 = try step(.fp32, observe: false, steps: 3, arch: deep)
        XCTAssertEqual(Set(bf16.pool).count, 1, "the bf16 pool grows after the first step: \(bf16.pool)")
        XCTAssertEqual(Set(fp32.pool).count, 1, "the fp32 pool grows after the first step: \(fp32.pool)")
        XCTAssertEqual(bf16.lent, 0, "a bf16 step leaves tensors lent")
        XCTAssertEqual(fp32.lent, 0, "an fp32 step leaves tensors lent")
        let saved = keptActivations(try ReIDNet(architecture: deep, head: HeadConfig(bnneck: true, numClasses: 4)))
        // Half of each kept convolution and block output is saved; packed copies are
        // rounded to whole pages on their own (one page each at most).
        let half = saved.conv / 2 + saved.blocks / 2, slack = saved.tensors * PageBuffer.pageSize
        let what = "bf16 \(bf16.kept) B kept, pool \(bf16.pool[0]) B; fp32 \(fp32.kept) B kept, pool \(fp32.pool[0]) B; "
            + "convolution outputs \(saved.conv) B, block outputs \(saved.blocks) B"
        XCTAssertLessThanOrEqual(bf16.kept, fp32.kept - half + slack, what)
        XCTAssertLessThanOrEqual(bf16.pool[0], fp32.pool[0] - half + slack, what)
    }

    /// The first two blocks of a fresh bf16 network (a downsampling block, then one with
    /// the identity shortcut), with their pool.
    private func firstBlocks() throws -> (ResidualBlock, ResidualBlock, ReIDNet) {
        let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 4), seed: 5)
        net.precision = .bf16
        let b = net.backbone.blocks[0]
        XCTAssertNotNil(b[0].downsample)
        XCTAssertNil(b[1].downsample)
        return (b[0], b[1], net)
    }

    func testBlockOutputsInBackwardEqualTheForwardsAndEveryTensorGoesBack() throws {
        let (b0, b1, net) = try firstBlocks()
        let pool = net.pool
        var rng = SeededRandom(seed: 7)
        let x = pool.take([8, 16, 8, b0.units[0].inChannels], .nhwc)
        rng.tensor(x.shape, .nhwc, -2, 2).toArray().enumerated().forEach { x[$0] = $1 }
        BF16Pack.round(x)
        let a0 = SavedActivation(pooled: x)
        let o0 = try b0.forwardTraining(a0, pool: pool)
        XCTAssertTrue(a0.isPacked, "the first block's input is packed once its forward is done")
        let y0 = o0.tensor(pool).toArray().map(\.bitPattern)
        XCTAssertTrue(y0.allSatisfy { $0 & 0xffff == 0 }, "block output not rounded to bfloat16")
        XCTAssertTrue(y0.contains { $0 != 0 } && y0.contains(0), "block output should have zeros and positives")
        XCTAssertFalse(o0.isPacked)
        let o1 = try b1.forwardTraining(o0, pool: pool)
        XCTAssertTrue(o0.isPacked, "a block output is packed once the next block's forward is done")
        let y1 = o1.tensor(pool).toArray().map(\.bitPattern)
        var seen: [[UInt32]] = []
        for b in [b1, b0] { b.units.last!.onBackward = { y, _ in seen.append(y.toArray().map(\.bitPattern)) } }
        let dy = pool.take(o1.shape, .nhwc)
        rng.tensor(dy.shape, .nhwc, -1, 1).toArray().enumerated().forEach { dy[$0] = $1 }
        let d1 = try b1.backward(dy, pool: pool)
        let d0 = try b0.backward(d1, pool: pool)
        XCTAssertEqual(seen, [y1, y0], "the block outputs backward saw differ from the forward's")
        for t in [dy, d1, d0] { pool.give(t) }
        a0.release(pool)
        XCTAssertEqual(pool.lentBytes, 0, "tensors left lent after both blocks' backward")
    }

    func testBackwardFromAPackedBlockInputEqualsBackwardFromTheFloat32One() throws {
        var results: [[[UInt32]]] = []
        for packs in [true, false] {
            let (_, b1, net) = try firstBlocks()
            let pool = net.pool
            var rng = SeededRandom(seed: 9)
            let values = BFloat16Rounding.round(rng.tensor([8, 16, 8, b1.units[0].inChannels], .nhwc, 0, 2).toArray())
            let x = pool.take([8, 16, 8, b1.units[0].inChannels], .nhwc)
            values.enumerated().forEach { x[$0] = $1 }
            // A borrowed input is never packed: the float32 reference.
            let input = packs ? SavedActivation(pooled: x) : SavedActivation(borrowing: x)
            let out = try b1.forwardTraining(input, pool: pool)
            XCTAssertEqual(input.isPacked, packs)
            let y = out.tensor(pool).toArray()
            let dy = pool.take(out.shape, .nhwc)
            rng.tensor(dy.shape, .nhwc, -1, 1).toArray().enumerated().forEach { dy[$0] = $1 }
            let dx = try b1.backward(dy, pool: pool)
            let grads = b1.allUnits.flatMap { u in
                [u.parameterIndices.weight, u.parameterIndices.gamma, u.parameterIndices.beta].map {
                    net.store.gradient($0).toArray()
                }
            }
            results.append(([y, dx.toArray()] + grads).map { $0.map(\.bitPattern) })
            input.release(pool)
            if !packs { pool.give(x) }
            pool.give(dx)
            pool.give(dy)
            XCTAssertEqual(pool.lentBytes, 0, "packs \(packs)")
        }
        XCTAssertEqual(results[0], results[1])
    }
}
