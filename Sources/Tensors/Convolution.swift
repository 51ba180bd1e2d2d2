// Convolution: 2-D convolution forward, backward-data and backward-weights through
// oneDNN, on channels-last activations `x: (N, H, W, C) -> y: (N, H', W', K)` and
// PyTorch-ordered weights `w: (K, C, KH, KW)`. Weights are reordered into the format
// each primitive prefers; primitives are cached per geometry.
import CDNNL

/// Where activations live for a convolution: channels-last memory, or whatever blocked
/// format oneDNN picks (measured by `bench ops`; the trainer uses `.nhwc`).
public enum ActivationFormat: String, Hashable, Sendable, CaseIterable {
    case nhwc
    case blocked
}

/// Sizes of one 2-D convolution: input (N, H, W, C), weights (K, C, KH, KW), output (N, H', W', K).
public struct ConvGeometry: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var inChannels: Int
    public var height: Int
    public var width: Int
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var padH: Int
    public var padW: Int
    public var hasBias: Bool

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = false) {
        self.init(batch: batch, inChannels: inChannels, height: height, width: width, outChannels: outChannels,
                  kernelH: kernel, kernelW: kernel, strideH: stride, strideW: stride, padH: padding, padW: padding,
                  bias: bias)
    }

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padH: Int, padW: Int, bias: Bool) {
        self.batch = batch
        self.inChannels = inChannels
        self.height = height
        self.width = width
        self.outChannels = outChannels
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideH = strideH
        self.strideW = strideW
        self.padH = padH
        self.padW = padW
        self.hasBias = bias
        precondition(batch > 0 && inChannels > 0 && outChannels > 0 && kernelH > 0 && kernelW > 0
                     && strideH > 0 && strideW > 0 && padH >= 0 && padW >= 0,
                     "ConvGeometry: invalid sizes \(self)")
        precondition(outHeight > 0 && outWidth > 0, "ConvGeometry: empty output for \(self)")
    }

    public var outHeight: Int { (height + 2 * padH - kernelH) / strideH + 1 }
    public var outWidth: Int { (width + 2 * padW - kernelW) / strideW + 1 }
    /// (N, H, W, C)
    public var inputShape: [Int] { [batch, height, width, inChannels] }
    /// (N, H', W', K)
    public var outputShape: [Int] { [batch, outHeight, outWidth, outChannels] }
    /// (K, C, KH, KW)
    public var weightShape: [Int] { [outChannels, inChannels, kernelH, kernelW] }
    /// Multiply-accumulates of one forward pass (bias excluded).
    public var macs: Int { batch * outHeight * outWidth * outChannels * inChannels * kernelH * kernelW }

    public var description: String {
        "N\(batch) C\(inChannels) \(height)x\(width) -> K\(outChannels) k\(kernelH)x\(kernelW) s\(strideH) p\(padH)"
            + (hasBias ? " +bias" : "")
    }

    var keyParams: [Int] {
        [batch, inChannels, height, width, outChannels, kernelH, kernelW, strideH, strideW, padH, padW, hasBias ? 1 : 0]
    }
}

/// 2-D convolution kernels. Every entry point checks shapes against the geometry and
/// stops with both shapes when they differ.
public enum Convolution {
    /// x: (N, H, W, C), weight: (K, C, KH, KW), bias: (K) -> y: (N, H', W', K)
    public static func forward(_ g: ConvGeometry, x: Tensor, weight: Tensor, bias: Tensor? = nil, y: Tensor) {
        expect(x, g.inputShape, .nhwc, "Convolution.forward input")
        expect(weight, g.weightShape, .oihw, "Convolution.forward weight")
        expect(y, g.outputShape, .nhwc, "Convolution.forward output")
        checkBias(g, bias, "Convolution.forward")
        plan(g).forward(x: x.data, weight: weight.data, bias: bias?.data, y: y.data)
    }

    /// dy: (N, H', W', K), weight: (K, C, KH, KW) -> dx: (N, H, W, C) (overwritten)
    public static func backwardData(_ g: ConvGeometry, dy: Tensor, weight: Tensor, dx: Tensor) {
        expect(dy, g.outputShape, .nhwc, "Convolution.backwardData output gradient")
        expect(weight, g.weightShape, .oihw, "Convolution.backwardData weight")
        expect(dx, g.inputShape, .nhwc, "Convolution.backwardData input gradient")
        plan(g).backwardData(dy: dy.data, weight: weight.data, dx: dx.data)
    }

    /// x: (N, H, W, C), dy: (N, H', W', K) -> dWeight: (K, C, KH, KW), dBias: (K) (overwritten)
    public static func backwardWeights(_ g: ConvGeometry, x: Tensor, dy: Tensor, dWeight: Tensor, dBias: Tensor? = nil) {
        expect(x, g.inputShape, .nhwc, "Convolution.backwardWeights input")
        expect(dy, g.outputShape, .nhwc, "Convolution.backwardWeights output gradient")
        expect(dWeight, g.weightShape, .oihw, "Convolution.backwardWeights weight gradient")
        checkBias(g, dBias, "Convolution.backwardWeights")
        plan(g).backwardWeights(x: x.data, dy: dy.data, dWeight: dWeight.data, dBias: dBias?.data)
    }

    static func plan(_ g: ConvGeometry, format: ActivationFormat = .nhwc) -> ConvPlan {
        DNNL.shared.cached(PrimitiveKey(op: .convolution(format), params: g.keyParams)) { ConvPlan(g, format: format) }
    }

    private static func checkBias(_ g: ConvGeometry, _ bias: Tensor?, _ what: String) {
        if g.hasBias {
            guard let bias else { preconditionFailure("\(what): geometry has a bias but none was given") }
            expect(bias, [g.outChannels], .x, "\(what) bias")
        } else {
            precondition(bias == nil, "\(what): a bias was given but the geometry has none")
        }
    }
}

/// Stops with both shapes when a tensor does not have the expected shape and layout.
func expect(_ t: Tensor, _ shape: [Int], _ layout: Layout, _ what: String) {
    precondition(t.shape == shape && (t.layout == layout || (layout == .x && t.count == shape.reduce(1, *))),
                 "\(what): got \(t.layout) \(t.shape), expected \(layout) \(shape)")
}

/// The cached primitives of one convolution geometry: forward, and lazily the two
/// backward passes, each with the weight reorder its preferred format needs.
final class ConvPlan {
    let g: ConvGeometry
    let format: ActivationFormat
    let plainWeights: dnnl_memory_desc_t
    let biasDesc: dnnl_memory_desc_t

    let forwardPD: dnnl_primitive_desc_t
    let forwardPrimitive: dnnl_primitive_t
    let fSrc, fWeights, fDst: BoundMemory
    let fBias: BoundMemory?
    let forwardPack: ReorderPlan?
    /// Bytes of the forward weight format when it differs from OIHW (packed into the shared scratch).
    let forwardPacked: Int?

    init(_ g: ConvGeometry, format: ActivationFormat) {
        self.g = g
        self.format = format
        plainWeights = memoryDesc(g.weightShape, dnnl_oihw)
        biasDesc = memoryDesc([g.outChannels], dnnl_a)
        var src = ConvPlan.activationDesc(g.inputShape, format)
        var dst = ConvPlan.activationDesc(g.outputShape, format)
        var weights = memoryDesc(g.weightShape, dnnl_format_tag_any)
        var bias = biasDesc
        var desc = dnnl_convolution_desc_t()
        let s = ConvPlan.strides(g), p = ConvPlan.padding(g)
        if g.hasBias {
            DNNL.check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_training, dnnl_convolution_direct,
                                                          &src, &weights, &bias, &dst, s, p, p), "describing \(g)")
        } else {
            DNNL.check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_training, dnnl_convolution_direct,
                                                          &src, &weights, nil, &dst, s, p, p), "describing \(g)")
        }
        (forwardPD, forwardPrimitive) = makePrimitive(&desc, "forward convolution \(g)")
        fSrc = BoundMemory(queryDesc(forwardPD, dnnl_query_src_md))
        fDst = BoundMemory(queryDesc(forwardPD, dnnl_query_dst_md))
        let chosen = queryDesc(forwardPD, dnnl_query_weights_md)
        fWeights = BoundMemory(chosen)
        fBias = g.hasBias ? BoundMemory(biasDesc) : nil
        if sameDesc(chosen, plainWeights) {
            forwardPack = nil
            forwardPacked = nil
        } else {
            forwardPack = ReorderPlan(from: plainWeights, to: chosen)
            forwardPacked = byteSize(chosen)
        }
    }

    static func activationDesc(_ nhwcShape: [Int], _ format: ActivationFormat) -> dnnl_memory_desc_t {
        let logical = [nhwcShape[0], nhwcShape[3], nhwcShape[1], nhwcShape[2]]
        return memoryDesc(logical, format == .nhwc ? dnnl_nhwc : dnnl_format_tag_any)
    }

    static func strides(_ g: ConvGeometry) -> [Int64] { [Int64(g.strideH), Int64(g.strideW)] }
    static func padding(_ g: ConvGeometry) -> [Int64] { [Int64(g.padH), Int64(g.padW)] }

    var implementation: String { implementationName(forwardPD) }

    /// Packs plain OIHW weights into the forward primitive's format; returns the pointer to use.
    func packForward(_ weight: UnsafeMutablePointer<Float>) -> UnsafeMutableRawPointer {
        guard let forwardPack, let forwardPacked else { return UnsafeMutableRawPointer(weight) }
        let scratch = DNNL.shared.weightScratch(forwardPacked)
        forwardPack.run(UnsafeMutableRawPointer(weight), scratch)
        return scratch
    }

    func forward(x: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>,
                 bias: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        runForward(x: UnsafeMutableRawPointer(x), packedWeight: packForward(weight),
                   bias: bias.map { UnsafeMutableRawPointer($0) }, y: UnsafeMutableRawPointer(y))
    }

    func runForward(x: UnsafeMutableRawPointer, packedWeight: UnsafeMutableRawPointer,
                    bias: UnsafeMutableRawPointer?, y: UnsafeMutableRawPointer) {
        var args = [(Arg.src, fSrc.bind(x)), (Arg.weights, fWeights.bind(packedWeight)), (Arg.dst, fDst.bind(y))]
        if let fBias, let bias { args.append((Arg.bias, fBias.bind(bias))) }
        DNNL.shared.execute(forwardPrimitive, args, "forward convolution \(g)")
    }

    // MARK: backward data

    final class BackwardData {
        let pd: dnnl_primitive_desc_t
        let primitive: dnnl_primitive_t
        let diffSrc, weights, diffDst: BoundMemory
        let pack: ReorderPlan?
        let packed: Int?

        init(_ plan: ConvPlan) {
            let g = plan.g
            var diffSrc = ConvPlan.activationDesc(g.inputShape, plan.format)
            var diffDst = ConvPlan.activationDesc(g.outputShape, plan.format)
            var weights = memoryDesc(g.weightShape, dnnl_format_tag_any)
            var desc = dnnl_convolution_desc_t()
            let s = ConvPlan.strides(g), p = ConvPlan.padding(g)
            DNNL.check(dnnl_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &diffSrc, &weights,
                                                                &diffDst, s, p, p), "describing \(g)")
            (pd, primitive) = makePrimitive(&desc, hint: plan.forwardPD, "backward-data convolution \(g)")
            self.diffSrc = BoundMemory(queryDesc(pd, dnnl_query_diff_src_md))
            self.diffDst = BoundMemory(queryDesc(pd, dnnl_query_diff_dst_md))
            let chosen = queryDesc(pd, dnnl_query_weights_md)
            self.weights = BoundMemory(chosen)
            if sameDesc(chosen, plan.plainWeights) {
                pack = nil
                packed = nil
            } else {
                pack = ReorderPlan(from: plan.plainWeights, to: chosen)
                packed = byteSize(chosen)
            }
        }
    }

    lazy var backwardDataPlan = BackwardData(self)

    func packBackwardData(_ weight: UnsafeMutablePointer<Float>) -> UnsafeMutableRawPointer {
        let b = backwardDataPlan
        guard let pack = b.pack, let packed = b.packed else { return UnsafeMutableRawPointer(weight) }
        let scratch = DNNL.shared.weightScratch(packed)
        pack.run(UnsafeMutableRawPointer(weight), scratch)
        return scratch
    }

    func backwardData(dy: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        runBackwardData(dy: UnsafeMutableRawPointer(dy), packedWeight: packBackwardData(weight), dx: UnsafeMutableRawPointer(dx))
    }

    func runBackwardData(dy: UnsafeMutableRawPointer, packedWeight: UnsafeMutableRawPointer, dx: UnsafeMutableRawPointer) {
        let b = backwardDataPlan
        DNNL.shared.execute(b.primitive, [(Arg.diffDst, b.diffDst.bind(dy)), (Arg.weights, b.weights.bind(packedWeight)),
                                          (Arg.diffSrc, b.diffSrc.bind(dx))], "backward-data convolution \(g)")
    }

    // MARK: backward weights

    final class BackwardWeights {
        let pd: dnnl_primitive_desc_t
        let primitive: dnnl_primitive_t
        let src, diffWeights, diffDst: BoundMemory
        let diffBias: BoundMemory?
        let unpack: ReorderPlan?
        let packed: Int?

        init(_ plan: ConvPlan) {
            let g = plan.g
            var src = ConvPlan.activationDesc(g.inputShape, plan.format)
            var diffDst = ConvPlan.activationDesc(g.outputShape, plan.format)
            var diffWeights = memoryDesc(g.weightShape, dnnl_format_tag_any)
            var diffBias = plan.biasDesc
            var desc = dnnl_convolution_desc_t()
            let s = ConvPlan.strides(g), p = ConvPlan.padding(g)
            if g.hasBias {
                DNNL.check(dnnl_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src, &diffWeights,
                                                                       &diffBias, &diffDst, s, p, p), "describing \(g)")
            } else {
                DNNL.check(dnnl_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src, &diffWeights,
                                                                       nil, &diffDst, s, p, p), "describing \(g)")
            }
            (pd, primitive) = makePrimitive(&desc, hint: plan.forwardPD, "backward-weights convolution \(g)")
            self.src = BoundMemory(queryDesc(pd, dnnl_query_src_md))
            self.diffDst = BoundMemory(queryDesc(pd, dnnl_query_diff_dst_md))
            let chosen = queryDesc(pd, dnnl_query_diff_weights_md)
            self.diffWeights = BoundMemory(chosen)
            self.diffBias = g.hasBias ? BoundMemory(plan.biasDesc) : nil
            if sameDesc(chosen, plan.plainWeights) {
                unpack = nil
                packed = nil
            } else {
                unpack = ReorderPlan(from: chosen, to: plan.plainWeights)
                packed = byteSize(chosen)
            }
        }
    }

    lazy var backwardWeightsPlan = BackwardWeights(self)

    func backwardWeights(x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?) {
        let b = backwardWeightsPlan
        let target = b.packed.map { DNNL.shared.weightScratch($0) } ?? UnsafeMutableRawPointer(dWeight)
        runBackwardWeights(x: UnsafeMutableRawPointer(x), dy: UnsafeMutableRawPointer(dy), packedDiffWeight: target,
                           dBias: dBias.map { UnsafeMutableRawPointer($0) })
        if let unpack = b.unpack { unpack.run(target, UnsafeMutableRawPointer(dWeight)) }
    }

    func runBackwardWeights(x: UnsafeMutableRawPointer, dy: UnsafeMutableRawPointer,
                            packedDiffWeight: UnsafeMutableRawPointer, dBias: UnsafeMutableRawPointer?) {
        let b = backwardWeightsPlan
        var args = [(Arg.src, b.src.bind(x)), (Arg.diffDst, b.diffDst.bind(dy)),
                    (Arg.diffWeights, b.diffWeights.bind(packedDiffWeight))]
        if let diffBias = b.diffBias, let dBias { args.append((Arg.diffBias, diffBias.bind(dBias))) }
        DNNL.shared.execute(b.primitive, args, "backward-weights convolution \(g)")
    }
}
