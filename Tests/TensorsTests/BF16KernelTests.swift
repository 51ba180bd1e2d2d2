// bfloat16 convolution (forward with and without fused post-ops, backward-data,
// backward-weights) and linear kernels: equal to the double-precision reference on
// bf16-rounded inputs up to fp32 accumulation noise, within the bf16 error bound of the
// exact fp32 reference, and measurably different from the fp32 kernels (so the bf16
// primitives, not cached fp32 ones, ran). Skipped on CPUs without native bf16.
import Tensors
import TestSupport
import XCTest

final class BF16KernelTests: XCTestCase {
    static let geometries: [ConvGeometry] = [
        ConvGeometry(batch: 1, inChannels: 3, height: 13, width: 9, outChannels: 8, kernel: 7, stride: 2, padding: 3),
        ConvGeometry(batch: 2, inChannels: 5, height: 9, width: 7, outChannels: 6, kernel: 3, stride: 1, padding: 1, bias: true),
        ConvGeometry(batch: 3, inChannels: 4, height: 11, width: 6, outChannels: 5, kernel: 3, stride: 2, padding: 1),
        ConvGeometry(batch: 2, inChannels: 7, height: 6, width: 6, outChannels: 3, kernel: 1, stride: 2, padding: 0, bias: true),
        // Winograd-eligible in fp32 (3x3 s1, 16 channels, batch 8, small map): bf16 uses the direct kernel.
        ConvGeometry(batch: 8, inChannels: 16, height: 8, width: 4, outChannels: 16, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(batch: 8, inChannels: 32, height: 8, width: 4, outChannels: 64, kernel: 1),
        ConvGeometry(batch: 4, inChannels: 64, height: 8, width: 4, outChannels: 32, kernel: 3, stride: 2, padding: 1),
    ]

    override func setUpWithError() throws {
        try XCTSkipUnless(Precision.nativeBF16, "bf16 kernels need native bfloat16 (AVX512_BF16 or AMX); oneDNN's best "
                          + "instruction set here is \(Precision.effectiveISA)")
    }

    private func bf16(_ g: ConvGeometry) -> ConvGeometry {
        var b = g
        b.precision = .bf16
        return b
    }

    /// Differences between the bf16 and fp32 kernels are rounding-sized (about 1e-3 on
    /// these O(1) sums); fp32 kernels agree with each other to about 1e-6. Anything above
    /// this shows the bf16 path ran.
    private let bf16Visible = 2e-5

    func testConvolutionForward() {
        var rng = SeededRandom(seed: 61)
        for g in Self.geometries {
            let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
            let b = g.hasBias ? rng.tensor([g.outChannels], .x) : nil
            let y32 = Tensor(shape: g.outputShape, layout: .nhwc), y16 = Tensor(shape: g.outputShape, layout: .nhwc)
            Convolution.forward(g, x: x, weight: w, bias: b, y: y32)
            Convolution.forward(bf16(g), x: x, weight: w, bias: b, y: y16)
            let onRounded = ReferenceConvolution.forward(g, x: BFloat16Rounding.round(x.toArray()),
                                                         w: BFloat16Rounding.round(w.toArray()), bias: b?.toArray())
            let exact = ReferenceConvolution.forward(g, x: x.toArray(), w: w.toArray(), bias: b?.toArray())
            checkBF16(y16, onRounded: onRounded, exact: exact, terms: g.inChannels * g.kernelH * g.kernelW, fp32: y32, "\(g)")
        }
    }

    /// A bf16 kernel's result against the three things it must satisfy: the double
    /// reference on bf16-rounded inputs within 1e-4 (relative), the exact (f32-input)
    /// reference within the bf16 bound for `terms` products per output, and a visible
    /// difference from the fp32 kernel's result (the bf16 primitive really ran).
    func checkBF16(_ result: Tensor, onRounded: [Float], exact: [Float], terms: Int, fp32: Tensor, _ what: String,
                   file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(relativeError(result.toArray(), onRounded), 1e-4, what, file: file, line: line)
        assertWithin(result.toArray(), exact, tolerance: BFloat16Rounding.sumTolerance(terms: terms, magnitude: 1), what,
                     file: file, line: line)
        XCTAssertGreaterThan(maxDifference(result.toArray(), fp32.toArray()), bf16Visible, "\(what): bf16 equals fp32",
                             file: file, line: line)
    }

    /// Inference's fused ReLU and residual sum+ReLU with packed (bf16) weights and an f32 output.
    func testConvolutionForwardWithPostOps() {
        var rng = SeededRandom(seed: 62)
        for base in Self.geometries {
            for post in [ConvGeometry.PostOps.relu, .sumRelu] {
                var g = ConvGeometry(batch: base.batch, inChannels: base.inChannels, height: base.height, width: base.width,
                                     outChannels: base.outChannels, kernelH: base.kernelH, kernelW: base.kernelW,
                                     strideH: base.strideH, strideW: base.strideW, padH: base.padH, padW: base.padW,
                                     bias: true)
                g.postOps = post
                let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
                let b = rng.tensor([g.outChannels], .x), shortcut = rng.tensor(g.outputShape, .nhwc)
                let y = post == .sumRelu ? shortcut.clone() : Tensor(shape: g.outputShape, layout: .nhwc)
                Convolution.forward(bf16(g), x: x, packed: Convolution.pack(bf16(g), weight: w), bias: b, y: y)
                var plain = g
                plain.postOps = .none
                var expected = ReferenceConvolution.forward(plain, x: BFloat16Rounding.round(x.toArray()),
                                                            w: BFloat16Rounding.round(w.toArray()), bias: b.toArray())
                if post == .sumRelu { expected = ReferenceOps.add(expected, shortcut.toArray()) }
                expected = ReferenceOps.relu(expected)
                assertClose(y, expected, rtol: 1e-4, atol: 1e-4, "\(g)")
            }
        }
    }

    /// bfloat16 in and out (inference chains): the output is exactly the f32-output bf16
    /// kernel's result rounded to bfloat16, for every post-op, the sum reading a bfloat16
    /// shortcut; nothing is converted on the way (the input is read as bfloat16 as is).
    func testConvolutionForwardWithBFloat16InputAndOutput() {
        var rng = SeededRandom(seed: 64)
        for base in Self.geometries {
            for post in [ConvGeometry.PostOps.none, .relu, .sumRelu] {
                var g = bf16(ConvGeometry(batch: base.batch, inChannels: base.inChannels, height: base.height,
                                          width: base.width, outChannels: base.outChannels, kernelH: base.kernelH,
                                          kernelW: base.kernelW, strideH: base.strideH, strideW: base.strideW,
                                          padH: base.padH, padW: base.padW, bias: true))
                g.postOps = post
                let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw), b = rng.tensor([g.outChannels], .x)
                let shortcut = rng.tensor(g.outputShape, .nhwc)
                BF16Pack.round(shortcut)  // a bfloat16 shortcut, the same values on both paths
                let y32 = post == .sumRelu ? shortcut.clone() : Tensor(shape: g.outputShape, layout: .nhwc)
                Convolution.forward(g, x: x, packed: Convolution.pack(g, weight: w), bias: b, y: y32)
                BF16Pack.round(y32)
                var io = g
                io.bf16Activations = true
                let x16 = Tensor(shape: g.inputShape, layout: .nhwc), y16 = Tensor(shape: g.outputShape, layout: .nhwc)
                BF16Pack.pack(x, into: x16)
                if post == .sumRelu { BF16Pack.pack(shortcut, into: y16) }
                Convolution.forward(io, x: x16, packed: Convolution.pack(io, weight: w), bias: b, y: y16)
                let out = Tensor(shape: g.outputShape, layout: .nhwc)
                BF16Pack.expand(y16, into: out)
                XCTAssertEqual(out.toArray(), y32.toArray(), "\(io)")
            }
        }
    }

    /// Training's forward writes the output in bf16, packed: the same values as the f32
    /// output rounded afterwards, bit for bit (the kernel rounds its f32 sums as the
    /// conversion does), for odd element counts too.
    func testConvolutionForwardIntoPackedBFloat16EqualsRoundingTheFloatOutput() {
        var rng = SeededRandom(seed: 66)
        for base in Self.geometries where !base.hasBias {
            let g = bf16(base)
            let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
            let y32 = Tensor(shape: g.outputShape, layout: .nhwc)
            Convolution.forward(g, x: x, weight: w, y: y32)
            let expected = Tensor(shape: [BF16Pack.slots(y32.count)], layout: .x)
            BF16Pack.pack(y32, into: expected)
            var out = g
            out.bf16Output = true
            // One slot more than needed, marked: the kernel writes exactly the output's bytes.
            let packed = Tensor(shape: [BF16Pack.slots(y32.count) + 1], layout: .x)
            packed.fill(-7)
            Convolution.forward(out, x: x, weight: w, packedY: packed)
            let bits = packed.toArray().map(\.bitPattern), want = expected.toArray().map(\.bitPattern)
            if y32.count % 2 == 0 {
                XCTAssertEqual(Array(bits.prefix(want.count)), want, "\(out)")
            } else {
                // The last slot's upper half is past the output: only its low bf16 value counts.
                XCTAssertEqual(Array(bits.prefix(want.count - 1)), Array(want.dropLast()), "\(out)")
                XCTAssertEqual(bits[want.count - 1] & 0xffff, want[want.count - 1] & 0xffff, "\(out)")
            }
            XCTAssertEqual(packed[packed.count - 1], -7, "\(out): wrote past the output")
        }
    }

    /// Both backward passes in one call convert dy to bf16 once; the gradients equal the
    /// separate calls' bit for bit (fp32 too), without dx as well, and the weight gradient
    /// is complete when `weightsDone` runs, before dx is written.
    func testBackwardInOneCallEqualsTheSeparatePasses() {
        var rng = SeededRandom(seed: 67)
        for base in Self.geometries where !base.hasBias {
            for g in [base, bf16(base)] {
                let x = rng.tensor(g.inputShape, .nhwc), w = rng.tensor(g.weightShape, .oihw)
                let dy = rng.tensor(g.outputShape, .nhwc), dyBefore = dy.toArray()
                let dwSeparate = Tensor(shape: g.weightShape, layout: .oihw), dxSeparate = Tensor(shape: g.inputShape, layout: .nhwc)
                Convolution.backwardWeights(g, x: x, dy: dy, dWeight: dwSeparate)
                Convolution.backwardData(g, dy: dy, weight: w, dx: dxSeparate)
                let dw = Tensor(shape: g.weightShape, layout: .oihw), dx = Tensor(shape: g.inputShape, layout: .nhwc)
                dx.fill(3)
                var calls = 0
                Convolution.backward(g, x: x, dy: dy, weight: w, dWeight: dw, dx: dx) {
                    calls += 1
                    XCTAssertEqual(dw.toArray().map(\.bitPattern), dwSeparate.toArray().map(\.bitPattern), "\(g)")
                    XCTAssertTrue(dx.toArray().allSatisfy { $0 == 3 }, "\(g): dx written before the weights were done")
                }
                XCTAssertEqual(calls, 1, "\(g)")
                XCTAssertEqual(dx.toArray().map(\.bitPattern), dxSeparate.toArray().map(\.bitPattern), "\(g)")
                XCTAssertEqual(dy.toArray(), dyBefore, "\(g): dy changed")
                let dwAlone = Tensor(shape: g.weightShape, layout: .oihw)
                Convolution.backward(g, x: x, dy: dy, weight: w, dWeight: dwAlone, dx: nil)
                XCTAssertEqual(dwAlone.toArray().map(\.bitPattern), dwSeparate.toArray().map(\.bitPattern), "\(g)")
            }
        }
    }

    func testConvolutionBackwardData() {
        var rng = SeededRandom(seed: 63)
        for g in Self.geometries {
            let w = rng.tensor(g.weightShape, .oihw), dy = rng.tensor(g.outputShape, .nhwc)
            let dx32 = Tensor(shape: g.inputShape, layout: .nhwc), dx16 = Tensor(shape: g.inputShape, layout: .nhwc)
            Convolution.backwardData(g, dy: dy, weight: w, dx: dx32)
            Convolution.backwardData(bf16(g), dy: dy, weight: w, dx: dx16)
            let onRounded = ReferenceConvolution.backwardData(g, dy: BFloat16Rounding.round(dy.toArray()),
                                                              w: BFloat16Rounding.round(w.toArray()))
            let exact = ReferenceConvolution.backwardData(g, dy: dy.toArray(), w: w.toArray())
            // Each input pixel receives at most K x KH x KW products.
            checkBF16(dx16, onRounded: onRounded, exact: exact, terms: g.outChannels * g.kernelH * g.kernelW, fp32: dx32,
                      "\(g)")
        }
    }

    func testConvolutionBackwardWeights() {
        var rng = SeededRandom(seed: 64)
        for g in Self.geometries {
            let x = rng.tensor(g.inputShape, .nhwc), dy = rng.tensor(g.outputShape, .nhwc)
            let dw32 = Tensor(shape: g.weightShape, layout: .oihw), dw16 = Tensor(shape: g.weightShape, layout: .oihw)
            let db = g.hasBias ? Tensor(shape: [g.outChannels], layout: .x) : nil
            Convolution.backwardWeights(g, x: x, dy: dy, dWeight: dw32, dBias: g.hasBias ? Tensor(shape: [g.outChannels], layout: .x) : nil)
            Convolution.backwardWeights(bf16(g), x: x, dy: dy, dWeight: dw16, dBias: db)
            let rounded = ReferenceConvolution.backwardWeights(g, x: BFloat16Rounding.round(x.toArray()),
                                                               dy: BFloat16Rounding.round(dy.toArray()))
            let exact = ReferenceConvolution.backwardWeights(g, x: x.toArray(), dy: dy.toArray())
            // Each weight sums one product per output position of every image.
            checkBF16(dw16, onRounded: rounded.dw, exact: exact.dw, terms: g.batch * g.outHeight * g.outWidth, fp32: dw32,
                      "\(g)")
            if let db {
                // The bias gradient sums the bf16 dy in f32.
                XCTAssertLessThanOrEqual(relativeError(db.toArray(), rounded.db), 1e-4, "\(g) bias")
            }
        }
    }

    func testLinearForwardAndBackward() {
        var rng = SeededRandom(seed: 65)
        for (n, dIn, dOut) in [(4, 7, 5), (1, 16, 3), (9, 33, 17), (32, 256, 75)] {
            let x = rng.tensor([n, dIn], .nc), w = rng.tensor([dOut, dIn], .nc), b = rng.tensor([dOut], .x)
            let dy = rng.tensor([n, dOut], .nc)
            let rx = BFloat16Rounding.round(x.toArray()), rw = BFloat16Rounding.round(w.toArray())
            let rdy = BFloat16Rounding.round(dy.toArray())
            let what = "n\(n) in\(dIn) out\(dOut)"

            let y = Tensor(shape: [n, dOut], layout: .nc), y32 = Tensor(shape: [n, dOut], layout: .nc)
            Linear.forward(x: x, weight: w, bias: b, y: y, precision: .bf16)
            Linear.forward(x: x, weight: w, bias: b, y: y32)
            assertClose(y, ReferenceOps.linear(x: rx, w: rw, b: b.toArray(), n: n, dIn: dIn, dOut: dOut), rtol: 1e-4,
                        atol: 1e-5, what)
            assertWithin(y.toArray(), ReferenceOps.linear(x: x.toArray(), w: w.toArray(), b: b.toArray(), n: n, dIn: dIn,
                                                          dOut: dOut),
                         tolerance: BFloat16Rounding.sumTolerance(terms: dIn, magnitude: 1), what)
            XCTAssertGreaterThan(maxDifference(y.toArray(), y32.toArray()), bf16Visible, "\(what): bf16 equals fp32")

            let dx = Tensor(shape: [n, dIn], layout: .nc)
            Linear.backwardData(dy: dy, weight: w, dx: dx, precision: .bf16)
            assertClose(dx, ReferenceOps.matmul(rdy, rw, m: n, n: dIn, k: dOut, transA: false, transB: false),
                        rtol: 1e-4, atol: 1e-5, what)
            assertWithin(dx.toArray(), ReferenceOps.matmul(dy.toArray(), w.toArray(), m: n, n: dIn, k: dOut, transA: false,
                                                           transB: false),
                         tolerance: BFloat16Rounding.sumTolerance(terms: dOut, magnitude: 1), what)

            // Accumulating into an existing gradient; the bias gradient sums dy in f32.
            let start = rng.array(dOut * dIn)
            let dw = Tensor(shape: [dOut, dIn], layout: .nc, values: start), db = Tensor(shape: [dOut], layout: .x)
            Linear.backwardWeights(x: x, dy: dy, dWeight: dw, dBias: db, accumulate: true, precision: .bf16)
            let product = ReferenceOps.matmul(rdy, rx, m: dOut, n: dIn, k: n, transA: true, transB: false)
            assertClose(dw, ReferenceOps.add(start, product), rtol: 1e-4, atol: 1e-5, what)
            let sums = (0..<dOut).map { j in (0..<n).reduce(Float(0)) { $0 + dy[$1 * dOut + j] } }
            assertClose(db, sums, rtol: 1e-5, atol: 1e-6, what)
        }
    }

    func testSupportCheckNamesTheKey() throws {
        XCTAssertNoThrow(try Precision.fp32.requireSupported(key: "train.precision"))
        // This class runs only where bf16 is native; there the check passes.
        XCTAssertNoThrow(try Precision.bf16.requireSupported(key: "train.precision"))
        XCTAssertTrue(Precision.effectiveISA.contains("bf16") || Precision.effectiveISA.contains("amx"),
                      Precision.effectiveISA)
    }
}
