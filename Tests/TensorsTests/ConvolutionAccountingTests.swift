// Convolution accounting: an attached counter counts each pass's calls (plain and packed
// forward, backward-data, backward-weights) with the primitive's and the weight reorders'
// time inside the call's;
// a detached one is left untouched; threads sharing one counter add up; reset zeroes it.
import Foundation
import Tensors
import TestSupport
import XCTest

final class ConvolutionAccountingTests: XCTestCase {
    /// 3x3 stride 1 on a small map with batch 8: the Winograd path, whose activations are
    /// reordered around the primitive.
    private static let winograd = ConvGeometry(batch: 8, inChannels: 16, height: 8, width: 4, outChannels: 16, kernel: 3,
                                        stride: 1, padding: 1)
    private static let strided = ConvGeometry(batch: 2, inChannels: 5, height: 9, width: 7, outChannels: 6, kernel: 3,
                                       stride: 2, padding: 1, bias: true)

    /// One call of each pass (and one packed forward) of `g`.
    private static func runEveryPass(_ g: ConvGeometry, _ rng: inout SeededRandom) {
        let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
        let b = g.hasBias ? rng.tensor([g.outChannels], .x) : nil
        let y = Tensor(shape: g.outputShape, layout: .nhwc), dx = Tensor(shape: g.inputShape, layout: .nhwc)
        let dw = Tensor(shape: g.weightShape, layout: .oihw)
        let db = g.hasBias ? Tensor(shape: [g.outChannels], layout: .x) : nil
        Convolution.forward(g, x: x, weight: w, bias: b, y: y)
        Convolution.forward(g, x: x, packed: Convolution.pack(g, weight: w), bias: b, y: y)
        Convolution.backwardData(g, dy: y, weight: w, dx: dx)
        Convolution.backwardWeights(g, x: x, dy: y, dWeight: dw, dBias: db)
    }

    func testAttachedCounterCountsEachPassAndDetachedLeavesItUntouched() {
        var rng = SeededRandom(seed: 5)
        // Plans built before counting: the counts below are calls, not first-use work.
        Self.runEveryPass(Self.winograd, &rng)
        Self.runEveryPass(Self.strided, &rng)
        let accounting = ConvolutionAccounting()
        accounting.attach()
        XCTAssertTrue(ConvolutionAccounting.attached === accounting)
        Self.runEveryPass(Self.winograd, &rng)
        Self.runEveryPass(Self.strided, &rng)
        ConvolutionAccounting.detach()
        XCTAssertNil(ConvolutionAccounting.attached)
        let counted = accounting.snapshot
        XCTAssertEqual(counted[.forward]?.calls, 4)
        XCTAssertEqual(counted[.backwardData]?.calls, 2)
        XCTAssertEqual(counted[.backwardWeights]?.calls, 2)
        for kind in ConvolutionKind.allCases {
            let t = counted[kind]!
            XCTAssertEqual(accounting.tally(kind), t)
            XCTAssertGreaterThan(t.primitiveNanoseconds, 0, "\(kind): the primitive's time is recorded")
            XCTAssertLessThanOrEqual(t.primitiveNanoseconds + t.weightReorderNanoseconds, t.nanoseconds,
                                     "\(kind): the primitive and the weight reorder run inside the call")
            XCTAssertEqual(t.activationNanoseconds, t.nanoseconds - t.primitiveNanoseconds - t.weightReorderNanoseconds)
        }
        // 16-channel weights are blocked for the primitives: some pass reorders them.
        XCTAssertGreaterThan(counted.values.map(\.weightReorderNanoseconds).reduce(0, +), 0)
        Self.runEveryPass(Self.winograd, &rng)
        XCTAssertEqual(accounting.snapshot, counted, "a detached counter sees nothing")
        accounting.reset()
        XCTAssertEqual(accounting.snapshot.values.map(\.calls), [0, 0, 0])
        XCTAssertEqual(accounting.snapshot.values.map(\.nanoseconds), [0, 0, 0])
    }

    func testThreadsSharingOneCounterAddUpAndOthersAreNotCounted() {
        let accounting = ConvolutionAccounting()
        let g = Self.strided, repeats = 5, threads = 3
        let group = DispatchGroup()
        for t in 0..<(threads + 1) {
            group.enter()
            // One thread more than attach: its calls must not show.
            let attach = t < threads
            let thread = Thread {
                if attach { accounting.attach() }
                var rng = SeededRandom(seed: UInt64(t))
                for _ in 0..<repeats { Self.runEveryPass(g, &rng) }
                if attach { ConvolutionAccounting.detach() }
                group.leave()
            }
            thread.start()
        }
        group.wait()
        XCTAssertEqual(accounting.tally(.forward).calls, 2 * repeats * threads)
        XCTAssertEqual(accounting.tally(.backwardData).calls, repeats * threads)
        XCTAssertEqual(accounting.tally(.backwardWeights).calls, repeats * threads)
        XCTAssertNil(ConvolutionAccounting.attached, "attaching on other threads leaves this one alone")
    }
}
