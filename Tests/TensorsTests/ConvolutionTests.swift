// Convolution forward, backward-data and backward-weights against the plain reference
// and finite differences, over odd sizes, batch 1, strides 1 and 2, paddings 0, 1, 3
// and kernels 1, 3, 7, with and without bias.
@testable import Tensors
import TestSupport
import XCTest

final class ConvolutionTests: XCTestCase {
    static let geometries: [ConvGeometry] = [
        ConvGeometry(batch: 1, inChannels: 3, height: 7, width: 5, outChannels: 4, kernel: 1),
        ConvGeometry(batch: 2, inChannels: 5, height: 9, width: 7, outChannels: 6, kernel: 3, stride: 1, padding: 1, bias: true),
        ConvGeometry(batch: 3, inChannels: 4, height: 11, width: 6, outChannels: 5, kernel: 3, stride: 2, padding: 1),
        ConvGeometry(batch: 1, inChannels: 3, height: 13, width: 9, outChannels: 8, kernel: 7, stride: 2, padding: 3),
        ConvGeometry(batch: 2, inChannels: 7, height: 6, width: 6, outChannels: 3, kernel: 1, stride: 2, padding: 0, bias: true),
        ConvGeometry(batch: 1, inChannels: 17, height: 5, width: 3, outChannels: 19, kernel: 3, stride: 1, padding: 0),
        ConvGeometry(batch: 2, inChannels: 16, height: 8, width: 4, outChannels: 32, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(batch: 8, inChannels: 16, height: 8, width: 4, outChannels: 16, kernel: 3, stride: 2, padding: 1),
        ConvGeometry(batch: 8, inChannels: 32, height: 8, width: 4, outChannels: 16, kernel: 1),
        ConvGeometry(batch: 1, inChannels: 2, height: 5, width: 5, outChannels: 3, kernelH: 3, kernelW: 1, strideH: 1,
                     strideW: 2, padH: 1, padW: 0, bias: true),
    ]

    func testForwardMatchesReference() {
        var rng = SeededRandom(seed: 1)
        for g in Self.geometries {
            let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
            let b = g.hasBias ? rng.tensor([g.outChannels], .x) : nil
            let y = Tensor(shape: g.outputShape, layout: .nhwc)
            Convolution.forward(g, x: x, weight: w, bias: b, y: y)
            let expected = ReferenceConvolution.forward(g, x: x.toArray(), w: w.toArray(), bias: b?.toArray())
            XCTAssertLessThanOrEqual(relativeError(y.toArray(), expected), 1e-4, "\(g)")
            assertClose(y, expected, rtol: 1e-4, atol: 1e-5, "\(g)")
        }
    }

    func testBackwardDataMatchesReferenceAndFiniteDifferences() {
        var rng = SeededRandom(seed: 2)
        for g in Self.geometries {
            let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
            let dy = rng.tensor(g.outputShape, .nhwc)
            let dx = Tensor(shape: g.inputShape, layout: .nhwc)
            Convolution.backwardData(g, dy: dy, weight: w, dx: dx)
            let expected = ReferenceConvolution.backwardData(g, dy: dy.toArray(), w: w.toArray())
            XCTAssertLessThanOrEqual(relativeError(dx.toArray(), expected), 1e-4, "\(g)")
            let bias = g.hasBias ? rng.tensor([g.outChannels], .x) : nil
            checkGradient("conv dx \(g)", at: x.toArray(), analytic: dx.toArray()) { probe in
                let y = Tensor(shape: g.outputShape, layout: .nhwc)
                Convolution.forward(g, x: Tensor(shape: g.inputShape, layout: .nhwc, values: probe), weight: w,
                                    bias: bias, y: y)
                return dot(y.toArray(), dy.toArray())
            }
        }
    }

    func testBackwardWeightsMatchesReferenceAndFiniteDifferences() {
        var rng = SeededRandom(seed: 3)
        for g in Self.geometries {
            let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
            let dy = rng.tensor(g.outputShape, .nhwc)
            let dw = Tensor(shape: g.weightShape, layout: .oihw)
            let db = g.hasBias ? Tensor(shape: [g.outChannels], layout: .x) : nil
            Convolution.backwardWeights(g, x: x, dy: dy, dWeight: dw, dBias: db)
            let expected = ReferenceConvolution.backwardWeights(g, x: x.toArray(), dy: dy.toArray())
            XCTAssertLessThanOrEqual(relativeError(dw.toArray(), expected.dw), 1e-4, "\(g)")
            let bias = g.hasBias ? rng.tensor([g.outChannels], .x) : nil
            checkGradient("conv dw \(g)", at: w.toArray(), analytic: dw.toArray()) { probe in
                let y = Tensor(shape: g.outputShape, layout: .nhwc)
                Convolution.forward(g, x: x, weight: Tensor(shape: g.weightShape, layout: .oihw, values: probe),
                                    bias: bias, y: y)
                return dot(y.toArray(), dy.toArray())
            }
            if let db, let bias {
                XCTAssertLessThanOrEqual(relativeError(db.toArray(), expected.db), 1e-4, "\(g) bias")
                checkGradient("conv db \(g)", at: bias.toArray(), analytic: db.toArray()) { probe in
                    let y = Tensor(shape: g.outputShape, layout: .nhwc)
                    Convolution.forward(g, x: x, weight: w, bias: Tensor(shape: [g.outChannels], layout: .x, values: probe),
                                        y: y)
                    return dot(y.toArray(), dy.toArray())
                }
            }
        }
    }

    func testRepeatedCallsReuseCachedPrimitives() {
        var rng = SeededRandom(seed: 4)
        let g = ConvGeometry(batch: 2, inChannels: 8, height: 6, width: 5, outChannels: 8, kernel: 3, stride: 1, padding: 1)
        let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
        let y = Tensor(shape: g.outputShape, layout: .nhwc)
        let dx = Tensor(shape: g.inputShape, layout: .nhwc), dw = Tensor(shape: g.weightShape, layout: .oihw)
        func step() {
            Convolution.forward(g, x: x, weight: w, y: y)
            Convolution.backwardData(g, dy: y, weight: w, dx: dx)
            Convolution.backwardWeights(g, x: x, dy: y, dWeight: dw)
        }
        step()
        let before = DNNL.current.primitivesCreated
        for _ in 0..<3 { step() }
        XCTAssertEqual(DNNL.current.primitivesCreated, before, "a repeated step must not build primitives")
    }
}

/// The Winograd path (3x3, stride 1, small maps, channels multiples of 16) against the
/// reference and the direct algorithm on the same data.
final class WinogradConvolutionTests: XCTestCase {
    override func tearDown() { Convolution.allowWinograd = true }

    func testWinogradAndDirectAgreeWithReference() {
        var rng = SeededRandom(seed: 5)
        let g = ConvGeometry(batch: 8, inChannels: 32, height: 9, width: 5, outChannels: 16, kernel: 3, stride: 1,
                             padding: 1)
        let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw), dy = rng.tensor(g.outputShape, .nhwc)
        var results: [[Float]] = []
        var implementations: [String] = []
        for allow in [true, false] {
            Convolution.allowWinograd = allow
            implementations.append(Convolution.implementation(g))
            let y = Tensor(shape: g.outputShape, layout: .nhwc)
            let dx = Tensor(shape: g.inputShape, layout: .nhwc), dw = Tensor(shape: g.weightShape, layout: .oihw)
            Convolution.forward(g, x: x, weight: w, y: y)
            Convolution.backwardData(g, dy: dy, weight: w, dx: dx)
            Convolution.backwardWeights(g, x: x, dy: dy, dWeight: dw)
            XCTAssertLessThanOrEqual(relativeError(y.toArray(), ReferenceConvolution.forward(g, x: x.toArray(),
                                                                                           w: w.toArray(), bias: nil)), 1e-4)
            XCTAssertLessThanOrEqual(relativeError(dx.toArray(), ReferenceConvolution.backwardData(g, dy: dy.toArray(),
                                                                                                 w: w.toArray())), 1e-4)
            XCTAssertLessThanOrEqual(relativeError(dw.toArray(), ReferenceConvolution.backwardWeights(
                g, x: x.toArray(), dy: dy.toArray()).dw), 1e-4)
            results.append(y.toArray())
        }
        XCTAssertTrue(implementations[0].contains("wino"), "expected Winograd, got \(implementations[0])")
        XCTAssertFalse(implementations[1].contains("wino"), "expected direct, got \(implementations[1])")
        XCTAssertLessThanOrEqual(relativeError(results[0], results[1]), 1e-4)
    }

    /// Weights packed once (inference) are transformed for Winograd when packed; the
    /// result, with the bias and ReLU fused, matches the reference and the per-call path.
    func testPackedWinogradWeightsAreTransformedOnceAndAgree() {
        var rng = SeededRandom(seed: 6)
        // Batch 2 and a 24x20 map: inference takes Winograd there (64 channels), training not.
        var g = ConvGeometry(batch: 2, inChannels: 64, height: 24, width: 20, outChannels: 80, kernel: 3, stride: 1,
                             padding: 1, bias: true)
        g.postOps = .relu
        let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
        let bias = rng.tensor([g.outChannels], .x)
        let implementation = Convolution.packedImplementation(g)
        XCTAssertTrue(implementation.contains("wino") && implementation.hasSuffix("forward_inference"), implementation)
        XCTAssertFalse(Convolution.implementation(g).contains("wino"), Convolution.implementation(g))
        let packed = Convolution.pack(g, weight: w)
        let y = Tensor(shape: g.outputShape, layout: .nhwc), perCall = Tensor(shape: g.outputShape, layout: .nhwc)
        Convolution.forward(g, x: x, packed: packed, bias: bias, y: y)
        Convolution.forward(g, x: x, weight: w, bias: bias, y: perCall)
        let reference = ReferenceConvolution.forward(g, x: x.toArray(), w: w.toArray(), bias: bias.toArray()).map { max($0, 0) }
        XCTAssertLessThanOrEqual(relativeError(y.toArray(), reference), 1e-4)
        XCTAssertLessThanOrEqual(relativeError(y.toArray(), perCall.toArray()), 1e-5)
        // Repeated calls reuse the packed weights: no new primitives, the same values.
        let before = DNNL.current.primitivesCreated
        let again = Tensor(shape: g.outputShape, layout: .nhwc)
        Convolution.forward(g, x: x, packed: packed, bias: bias, y: again)
        XCTAssertEqual(DNNL.current.primitivesCreated, before)
        XCTAssertEqual(again.toArray(), y.toArray())
        // A geometry training runs as Winograd too keeps the training plan (weights
        // transformed per call, in a quarter of the memory).
        let both = ConvGeometry(batch: 8, inChannels: 64, height: 8, width: 4, outChannels: 64, kernel: 3, padding: 1)
        let bothImplementation = Convolution.packedImplementation(both)
        XCTAssertTrue(bothImplementation.contains("wino") && bothImplementation.hasSuffix("forward_training"), bothImplementation)
        // Geometries that are not Winograd's pack for the training plan itself.
        for direct in [ConvGeometry(batch: 8, inChannels: 32, height: 7, width: 6, outChannels: 48, kernel: 1),
                       ConvGeometry(batch: 2, inChannels: 16, height: 24, width: 20, outChannels: 16, kernel: 3,
                                    padding: 1)] {
            let implementation = Convolution.packedImplementation(direct)
            XCTAssertTrue(!implementation.contains("wino") && implementation.hasSuffix("forward_training"), implementation)
        }
    }

    /// Inference takes Winograd for channel counts that are not multiples of 16 too (a
    /// pruned network's widths); the blocked layout pads them, and the result still
    /// matches the reference. Training keeps the direct algorithm for them.
    func testPackedWinogradTakesChannelsThatAreNotMultiplesOf16() {
        var rng = SeededRandom(seed: 7)
        for (batch, inChannels, outChannels) in [(1, 72, 67), (8, 67, 64)] {
            var g = ConvGeometry(batch: batch, inChannels: inChannels, height: 8, width: 6, outChannels: outChannels,
                                 kernel: 3, stride: 1, padding: 1, bias: true)
            g.postOps = .relu
            let implementation = Convolution.packedImplementation(g)
            XCTAssertTrue(implementation.contains("wino") && implementation.hasSuffix("forward_inference"),
                          "\(g): \(implementation)")
            XCTAssertFalse(Convolution.implementation(g).contains("wino"), Convolution.implementation(g))
            XCTAssertNotEqual(Convolution.inferencePlanKey(g), Convolution.planKey(g))
            let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
            let bias = rng.tensor([g.outChannels], .x)
            let y = Tensor(shape: g.outputShape, layout: .nhwc)
            Convolution.forward(g, x: x, packed: Convolution.pack(g, weight: w), bias: bias, y: y)
            let reference = ReferenceConvolution.forward(g, x: x.toArray(), w: w.toArray(), bias: bias.toArray())
                .map { max($0, 0) }
            XCTAssertLessThanOrEqual(relativeError(y.toArray(), reference), 1e-4, "\(g)")
        }
    }
}
