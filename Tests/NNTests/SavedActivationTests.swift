// What training keeps for backward: a unit's output recomputed from its convolution
// output and batch statistics equals the forward's output bit for bit (oneDNN and SyncBN
// paths, with and without ReLU), and so does a backward whose convolution output is
// computed again from the input; backward with recomputed inner outputs gives the same
// gradients as with observers that force every output to be recomputed again; repeated
// steps reuse the tensor pool's memory; the pool splits free buffers and moves them
// together when a request needs more than any one holds.
@testable import NN
import Tensors
import TestSupport
import XCTest

/// A one-rank reducer: SyncBN's code path with nothing to add.
private final class SingleRankReducer: StatisticsReducer {
    func sum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {}
}

final class SavedActivationTests: XCTestCase {
    private func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        let t = Tensor(shape: shape, layout: .nhwc)
        for i in 0..<t.count { t[i] = Float(rng.uniform(-2.0, 2.0) as Double) }
        return t
    }

    private func unit(relu: Bool, stride: Int) -> (ConvBN, ParameterStore) {
        let store = ParameterStore()
        let u = ConvBN(store: store, conv: "conv", bn: "bn", inChannels: 16, outChannels: 32, kernel: 3, stride: stride,
                       padding: 1, relu: relu)
        store.allocate()
        var rng = SeededRandom(seed: 3)
        u.initialize(&rng)
        // Scales and shifts away from 1 and 0, one scale exactly zero.
        let (_, gi, bi) = u.parameterIndices
        for k in 0..<32 {
            store.parameter(gi)[k] = k == 5 ? 0 : Float(rng.uniform(-1.5, 1.5) as Double)
            store.parameter(bi)[k] = Float(rng.uniform(-0.5, 0.5) as Double)
        }
        return (u, store)
    }

    func testRecomputedOutputEqualsTheForwardsBitForBit() throws {
        for sync in [false, true] {
            for relu in [false, true] {
                for stride in [1, 2] {
                    let (u, _) = unit(relu: relu, stride: stride)
                    let reducer = SingleRankReducer()
                    if sync { u.statisticsReducer = reducer }
                    let pool = TensorPool()
                    let x = random([4, 12, 10, 16], seed: 11)
                    let y = try u.forwardTraining(x, pool: pool)
                    let kept = y.toArray()
                    pool.give(y)
                    let again = u.recomputeOutput(pool: pool)
                    let what = "sync \(sync) relu \(relu) stride \(stride)"
                    XCTAssertEqual(again.shape, y.shape, what)
                    XCTAssertEqual(again.toArray().map(\.bitPattern), kept.map(\.bitPattern), what)
                    if relu { XCTAssertTrue(kept.contains(0) && kept.contains { $0 > 0 }, what) }
                    pool.give(again)
                }
            }
        }
    }

    func testBackwardWithRecomputedConvolutionEqualsBackwardWithTheKeptOne() throws {
        for relu in [false, true] {
            var results: [[[UInt32]]] = []
            for recompute in [false, true] {
                let (u, store) = unit(relu: relu, stride: 2)
                u.recomputesConvolution = recompute
                let pool = TensorPool()
                let x = random([4, 12, 10, 16], seed: 11)
                let y = try u.forwardTraining(x, pool: pool)
                let dy = random(y.shape, seed: 13)
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

    /// A bottleneck network's gradients (as bits), the outputs every unit's backward
    /// observer saw that differ from the forward's, and the pool's size.
    private func gradients(observe: Bool, sync: Bool, steps: Int = 1) throws -> (grads: [[UInt32]], mismatches: Int, pool: Int) {
        let arch = ResNetArchitecture.resnet(block: .bottleneck, blocks: [2, 1, 1, 1], baseWidth: 8)
        let reducer = SingleRankReducer()
        let r = try observedTrainingSteps(arch, reducer: sync ? reducer : nil, observe: observe, steps: steps,
                                          images: random([4, 64, 32, 3], seed: 2), classes: [0, 1, 2, 3],
                                          identities: [0, 0, 1, 1])
        XCTAssertEqual(Set(r.pool).count, 1, "the pool grows after the first step: \(r.pool)")
        return (r.grads, r.mismatches, r.pool[0])
    }

    func testBackwardFromRecomputedOutputsGivesTheSameGradients() throws {
        for sync in [false, true] {
            let plain = try gradients(observe: false, sync: sync)
            let observed = try gradients(observe: true, sync: sync)
            XCTAssertEqual(observed.mismatches, 0, "outputs recomputed in backward differ from the forward's (sync \(sync))")
            XCTAssertEqual(plain.grads.count, observed.grads.count)
            for (a, b) in zip(plain.grads, observed.grads) {
                XCTAssertEqual(a, b, "sync \(sync)")
            }
            XCTAssertTrue(plain.grads.contains { $0.contains { $0 & 0x7fff_ffff != 0 } })
        }
    }

    func testRepeatedStepsReuseThePool() throws {
        let one = try gradients(observe: false, sync: false, steps: 1)
        let three = try gradients(observe: false, sync: false, steps: 3)
        XCTAssertEqual(one.pool, three.pool)
    }

    func testPoolSplitsAndMovesFreeMemoryTogether() {
        let pool = TensorPool()
        let page = PageBuffer.pageSize / 4  // floats per page
        // Three requests of 2, 1 and 1 pages: three mappings, 4 pages in all.
        let a = pool.take([2 * page], .x), b = pool.take([page], .x), c = pool.take([page], .x)
        XCTAssertEqual(pool.allocated, 3)
        for (t, v) in [(a, Float(1)), (b, 2), (c, 3)] { t.fill(v) }
        pool.give(a)
        // A smaller request takes part of the free buffer and leaves the rest free.
        let d = pool.take([page / 2], .x)
        XCTAssertEqual(d.data, a.data)
        XCTAssertEqual(pool.bytes, 4 * PageBuffer.pageSize)
        pool.give(d)
        pool.give(b)
        // 3 pages: no free buffer holds them, the free 2 + 1 pages do together, moved
        // (with their contents) into one buffer without new memory.
        let e = pool.take([3 * page], .x)
        XCTAssertEqual(pool.allocated, 3)
        XCTAssertEqual(pool.bytes, 4 * PageBuffer.pageSize)
        XCTAssertEqual(e[2 * page - 1], 1)
        XCTAssertEqual(e[2 * page], 2)
        e.fill(4)
        // 2 pages with nothing free: one new page on top of c's.
        pool.give(c)
        let f = pool.take([2 * page], .x)
        XCTAssertEqual(pool.allocated, 4)
        XCTAssertEqual(pool.bytes, 5 * PageBuffer.pageSize)
        XCTAssertEqual(f[0], 3)
        XCTAssertEqual(f[page], 0)
        XCTAssertEqual(e[3 * page - 1], 4)
        pool.give(e)
        pool.give(f)
    }
}
