// Convolution: 2-D convolution forward, backward-data and backward-weights through
// oneDNN, on channels-last activations `x: (N, H, W, C) -> y: (N, H', W', K)` and
// PyTorch-ordered weights `w: (K, C, KH, KW)`. Weights are reordered into the format
// each primitive prefers; primitives are cached per geometry.
import CDNNL
import Foundation

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
    /// What the forward pass does after the convolution, inside the same kernel.
    public var postOps = PostOps.none
    /// The arithmetic: with `.bf16`, x, the weights and dy are converted to bfloat16 on
    /// their way into the kernels (products accumulate in float32); y, dx, the weight
    /// and bias gradients and the bias stay float32, so callers see float32 tensors only
    /// (unless `bf16Activations` or `bf16Output` says otherwise).
    public var precision = Precision.fp32
    /// With `.bf16` precision, forward only: x and y themselves hold bfloat16 values (two
    /// bytes each, packed from the start of their float32 tensors' memory), so that a
    /// chain of bf16 convolutions (inference) converts nothing between them; a fused sum
    /// reads y's bfloat16 values.
    public var bf16Activations = false
    /// With `.bf16` precision, forward only: x stays float32 and y holds bfloat16 values
    /// (packed two to a float slot, `BF16Pack`), written so by the kernel: how training
    /// keeps a convolution output rounded to bf16 in half the memory without converting it.
    public var bf16Output = false

    /// Operations fused into the forward convolution (inference with BN folded in).
    public enum PostOps: Int, Hashable, Sendable {
        case none
        /// y = relu(conv(x) + b)
        case relu
        /// y = relu(conv(x) + b + y): the residual addition, into the shortcut's values.
        case sumRelu
    }

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
        require(batch > 0 && inChannels > 0 && outChannels > 0 && kernelH > 0 && kernelW > 0
                     && strideH > 0 && strideW > 0 && padH >= 0 && padW >= 0,
                     "ConvGeometry: invalid sizes \(self)")
        require(outHeight > 0 && outWidth > 0, "ConvGeometry: empty output for \(self)")
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
            + (hasBias ? " +bias" : "") + (postOps == .relu ? " +relu" : postOps == .sumRelu ? " +sum+relu" : "")
            + (precision == .bf16 ? " bf16" : "") + (bf16Activations ? " bf16-io" : "") + (bf16Output ? " bf16-out" : "")
    }

    var keyParams: [Int] {
        [batch, inChannels, height, width, outChannels, kernelH, kernelW, strideH, strideW, padH, padW, hasBias ? 1 : 0,
         postOps.rawValue, precision == .bf16 ? 1 : 0, bf16Activations ? 1 : 0, bf16Output ? 1 : 0]
    }
}

/// 2-D convolution kernels. Every entry point checks shapes against the geometry and
/// stops with both shapes when they differ.
public enum Convolution {
    /// x: (N, H, W, C), weight: (K, C, KH, KW), bias: (K) -> y: (N, H', W', K)
    public static func forward(_ g: ConvGeometry, x: Tensor, weight: Tensor, bias: Tensor? = nil, y: Tensor) {
        require(!g.bf16Output, "Convolution.forward: \(g) writes packed bf16: use forward(_:x:weight:packedY:)")
        expect(x, g.inputShape, .nhwc, "Convolution.forward input")
        expect(weight, g.weightShape, .oihw, "Convolution.forward weight")
        expect(y, g.outputShape, .nhwc, "Convolution.forward output")
        checkBias(g, bias, "Convolution.forward")
        let context = DNNL.current, p = plan(g, in: context)
        context.accounted(.forward) { p.forward(x: x.data, weight: weight.data, bias: bias?.data, y: y.data) }
    }

    /// x: (N, H, W, C), weight: (K, C, KH, KW) -> y rounded to bfloat16 and packed into
    /// `packed` (at least `BF16Pack.slots` of y's count floats, any shape), in y's
    /// channels-last order. The geometry has bf16 precision and `bf16Output`.
    public static func forward(_ g: ConvGeometry, x: Tensor, weight: Tensor, packedY packed: Tensor) {
        require(g.bf16Output && g.precision == .bf16 && !g.hasBias && g.postOps == .none,
                "Convolution.forward: \(g) is not a bf16-output convolution without bias or post-ops")
        expect(x, g.inputShape, .nhwc, "Convolution.forward input")
        expect(weight, g.weightShape, .oihw, "Convolution.forward weight")
        let count = g.outputShape.reduce(1, *)
        require(packed.count >= BF16Pack.slots(count),
                "Convolution.forward: \(packed.count) slots hold fewer than the output's \(count) bf16 values")
        let context = DNNL.current, p = plan(g, in: context)
        context.accounted(.forward) { p.forward(x: x.data, weight: weight.data, bias: nil, y: packed.data) }
    }

    /// Both backward passes of one training step: dWeight (K, C, KH, KW) from x and dy
    /// (then `weightsDone` runs, so that the gradient's reduction can start), then dx
    /// (N, H, W, C) when given (overwritten). In bf16, dy is converted to bfloat16 once
    /// for both kernels instead of once per kernel. For geometries without a bias.
    public static func backward(_ g: ConvGeometry, x: Tensor, dy: Tensor, weight: Tensor, dWeight: Tensor, dx: Tensor?,
                                weightsDone: () -> Void = {}) {
        expect(x, g.inputShape, .nhwc, "Convolution.backward input")
        expect(dy, g.outputShape, .nhwc, "Convolution.backward output gradient")
        expect(weight, g.weightShape, .oihw, "Convolution.backward weight")
        expect(dWeight, g.weightShape, .oihw, "Convolution.backward weight gradient")
        if let dx { expect(dx, g.inputShape, .nhwc, "Convolution.backward input gradient") }
        checkBias(g, nil, "Convolution.backward")
        let context = DNNL.current, p = plan(g, in: context)
        var lowDY: UnsafeMutableRawPointer?
        context.accounted(.backwardWeights) {
            // bf16: one conversion of dy for both kernels, counted as this one's activation reorder.
            if g.precision == .bf16 { lowDY = p.convertGradient(dy.data, count: dy.count) }
            p.backwardWeights(x: x.data, dy: dy.data, lowDY: lowDY, dWeight: dWeight.data, dBias: nil)
        }
        weightsDone()
        if let dx {
            context.accounted(.backwardData) { p.backwardData(dy: dy.data, lowDY: lowDY, weight: weight.data, dx: dx.data) }
        }
    }

    /// dy: (N, H', W', K), weight: (K, C, KH, KW) -> dx: (N, H, W, C) (overwritten)
    public static func backwardData(_ g: ConvGeometry, dy: Tensor, weight: Tensor, dx: Tensor) {
        expect(dy, g.outputShape, .nhwc, "Convolution.backwardData output gradient")
        expect(weight, g.weightShape, .oihw, "Convolution.backwardData weight")
        expect(dx, g.inputShape, .nhwc, "Convolution.backwardData input gradient")
        let context = DNNL.current, p = plan(g, in: context)
        context.accounted(.backwardData) { p.backwardData(dy: dy.data, weight: weight.data, dx: dx.data) }
    }

    /// x: (N, H, W, C), dy: (N, H', W', K) -> dWeight: (K, C, KH, KW), dBias: (K) (overwritten)
    public static func backwardWeights(_ g: ConvGeometry, x: Tensor, dy: Tensor, dWeight: Tensor, dBias: Tensor? = nil) {
        expect(x, g.inputShape, .nhwc, "Convolution.backwardWeights input")
        expect(dy, g.outputShape, .nhwc, "Convolution.backwardWeights output gradient")
        expect(dWeight, g.weightShape, .oihw, "Convolution.backwardWeights weight gradient")
        checkBias(g, dBias, "Convolution.backwardWeights")
        let context = DNNL.current, p = plan(g, in: context)
        context.accounted(.backwardWeights) {
            p.backwardWeights(x: x.data, dy: dy.data, dWeight: dWeight.data, dBias: dBias?.data)
        }
    }

    /// Weights reordered into the forward primitive's format, to be reused across calls
    /// while the weights do not change (inference).
    public final class PackedWeights: @unchecked Sendable {
        public let geometry: ConvGeometry
        let buffer: AlignedBuffer?
        let plain: Tensor?
        init(geometry: ConvGeometry, buffer: AlignedBuffer?, plain: Tensor?) {
            self.geometry = geometry
            self.buffer = buffer
            self.plain = plain
        }
    }

    /// weight: (K, C, KH, KW) -> the forward primitive's format for this geometry.
    public static func pack(_ g: ConvGeometry, weight: Tensor) -> PackedWeights {
        expect(weight, g.weightShape, .oihw, "Convolution.pack weight")
        let p = inferencePlan(g, in: DNNL.current)
        guard let reorder = p.forwardPack, let bytes = p.forwardPacked else {
            return PackedWeights(geometry: g, buffer: nil, plain: weight.clone())
        }
        let buffer = AlignedBuffer(byteCount: bytes)
        reorder.run(UnsafeMutableRawPointer(weight.data), buffer.pointer)
        return PackedWeights(geometry: g, buffer: buffer, plain: nil)
    }

    /// Forward with weights packed by `pack` for the same geometry.
    public static func forward(_ g: ConvGeometry, x: Tensor, packed: PackedWeights, bias: Tensor? = nil, y: Tensor) {
        require(packed.geometry == g, "Convolution.forward: weights packed for \(packed.geometry), used for \(g)")
        expect(x, g.inputShape, .nhwc, "Convolution.forward input")
        expect(y, g.outputShape, .nhwc, "Convolution.forward output")
        checkBias(g, bias, "Convolution.forward")
        let w = packed.buffer?.pointer ?? UnsafeMutableRawPointer(packed.plain!.data)
        let context = DNNL.current, p = inferencePlan(g, in: context)
        context.accounted(.forward) {
            p.runForward(x: UnsafeMutableRawPointer(x.data), packedWeight: w,
                         bias: bias.map { UnsafeMutableRawPointer($0.data) }, y: UnsafeMutableRawPointer(y.data))
        }
    }

    /// Whether 3x3 stride-1 convolutions on small maps may use the Winograd kernel
    /// (default: yes, unless REIDPRUNE_WINOGRAD=0). Set it before the first convolution
    /// of a geometry: plans are cached with the choice they were made with.
    public static var allowWinograd: Bool {
        get { ConvPlan.winogradEnabled }
        set { ConvPlan.winogradEnabled = newValue }
    }

    /// The oneDNN implementation a geometry's forward pass runs (for example
    /// "jit_wino_4x3:avx512_core" or "brgconv:avx512_core").
    public static func implementation(_ g: ConvGeometry) -> String { plan(g).implementation }

    /// The oneDNN implementation and propagation kind that weights packed by `pack` run
    /// with (for example "jit_wino_4x3:avx512_core forward_inference").
    public static func packedImplementation(_ g: ConvGeometry) -> String {
        let p = inferencePlan(g, in: DNNL.current)
        return p.implementation + (p.inference ? " forward_inference" : " forward_training")
    }

    static func plan(_ g: ConvGeometry, format: ActivationFormat = .nhwc) -> ConvPlan {
        plan(g, format: format, in: DNNL.current)
    }

    /// The plan cached in `context` (the calling thread's).
    static func plan(_ g: ConvGeometry, format: ActivationFormat = .nhwc, in context: DNNL) -> ConvPlan {
        context.cached(planKey(g, format)) { ConvPlan(g, format: format) }
    }

    /// The plan for weights packed once (`pack`): for a geometry only inference runs as
    /// Winograd (small batches, large maps), one whose weights are transformed when
    /// packed; otherwise the training plan itself. Geometries training also runs as
    /// Winograd keep transforming inside each call: packed, their weights would take 4x
    /// the memory (6x6 tiles for 3x3 kernels) for about 7% of their time (measured on
    /// ResNet-50's layer2-4 at batch 32: 150 MB more peak RSS for 7 ms per step).
    static func inferencePlan(_ g: ConvGeometry, in context: DNNL) -> ConvPlan {
        let key = inferencePlanKey(g)
        guard key != planKey(g) else { return plan(g, in: context) }
        return context.cached(key) { ConvPlan(g, format: .nhwc, inference: true) }
    }

    /// The cache key of `inferencePlan(g)`: the training plan's, or one ending in 2 for
    /// a Winograd plan only inference runs (`planKey` ends in 0, direct, or 1, Winograd
    /// with weights transformed per call).
    static func inferencePlanKey(_ g: ConvGeometry) -> PrimitiveKey {
        guard ConvPlan.usesWinograd(g, inference: true) && !ConvPlan.usesWinograd(g) else { return planKey(g) }
        return PrimitiveKey(op: .convolution(.nhwc), params: g.keyParams + [2])
    }

    static func planKey(_ g: ConvGeometry, _ format: ActivationFormat = .nhwc) -> PrimitiveKey {
        let wino = format == .nhwc && ConvPlan.usesWinograd(g)
        return PrimitiveKey(op: .convolution(format), params: g.keyParams + [wino ? 1 : 0])
    }

    private static func checkBias(_ g: ConvGeometry, _ bias: Tensor?, _ what: String) {
        if g.hasBias {
            guard let bias else { fatalError("\(what): geometry has a bias but none was given") }
            expect(bias, [g.outChannels], .x, "\(what) bias")
        } else {
            require(bias == nil, "\(what): a bias was given but the geometry has none")
        }
    }
}

/// Stops with both shapes when a tensor does not have the expected shape and layout.
func expect(_ t: Tensor, _ shape: [Int], _ layout: Layout, _ what: String) {
    require(t.shape == shape && (t.layout == layout || (layout == .x && t.count == shape.reduce(1, *))),
                 "\(what): got \(t.layout) \(t.shape), expected \(layout) \(shape)")
}

/// One activation argument of a primitive: the layout callers use (channels-last) and
/// the one the primitive chose; when they differ, data passes through a reorder into a
/// shared scratch buffer.
final class ActivationPort {
    let memory: BoundMemory
    let reorder: ReorderPlan?
    let slot: DNNL.ScratchSlot
    /// Whether the primitive reads or writes plain channels-last bfloat16 here, so that
    /// callers holding such data can bind it without a reorder.
    let takesPlainBF16: Bool
    /// Bytes of callers' data (the same count as the primitive's, padding aside).
    var bytes: Int { memory.bytes }

    /// `incoming`: callers' data flows into the primitive (src, diff_dst); else out of it.
    /// `callers`: the layout callers use; `.blocked` means callers already hold the
    /// primitive's layout (the ops benchmark of the blocked layout).
    init(chosen: dnnl_memory_desc_t, nhwcShape: [Int], incoming: Bool, slot: DNNL.ScratchSlot,
         callers: ActivationFormat, callersType: dnnl_data_type_t = dnnl_f32) {
        memory = BoundMemory(chosen)
        self.slot = slot
        let plain = ConvPlan.activationDesc(nhwcShape, .nhwc, type: callersType)
        takesPlainBF16 = callers == .nhwc && sameDesc(chosen, ConvPlan.activationDesc(nhwcShape, .nhwc, type: dnnl_bf16))
        if callers == .blocked || sameDesc(chosen, plain) {
            reorder = nil
        } else {
            reorder = incoming ? ReorderPlan(from: plain, to: chosen) : ReorderPlan(from: chosen, to: plain)
        }
    }

    /// The memory to hand the primitive for callers' data at `pointer`, reordered in first
    /// when this port is incoming.
    func bindIncoming(_ pointer: UnsafeMutableRawPointer) -> dnnl_memory_t {
        guard let reorder else { return memory.bind(pointer) }
        let scratch = DNNL.current.scratch(slot, memory.bytes)
        reorder.run(pointer, scratch)
        return memory.bind(scratch)
    }

    /// `bindIncoming`, or the bfloat16 copy `low` of the same data bound directly when
    /// there is one and the primitive reads plain channels-last bf16.
    func bindIncoming(_ pointer: UnsafeMutableRawPointer, bf16Copy low: UnsafeMutableRawPointer?) -> dnnl_memory_t {
        if let low, takesPlainBF16 { return memory.bind(low) }
        return bindIncoming(pointer)
    }

    /// The memory the primitive writes; call `finishOutgoing` after it ran.
    func bindOutgoing(_ pointer: UnsafeMutableRawPointer) -> dnnl_memory_t {
        guard reorder != nil else { return memory.bind(pointer) }
        return memory.bind(DNNL.current.scratch(slot, memory.bytes))
    }

    func finishOutgoing(_ pointer: UnsafeMutableRawPointer) {
        guard let reorder else { return }
        reorder.run(DNNL.current.scratch(slot, memory.bytes), pointer)
    }
}

/// The cached primitives of one convolution geometry: forward, and lazily the two
/// backward passes, each with the weight reorder its preferred format needs. With
/// channels-last activations, a 3x3 stride-1 convolution on a small map uses oneDNN's
/// Winograd kernel (about twice the direct kernel's speed there) with its activations
/// reordered in and out of the kernel's blocked layout. In bf16 the same ports convert:
/// src, weights and diff_dst are described as bf16, so their reorders into scratch also
/// convert f32 -> bf16; dst, diff_src and diff_weights stay f32 and need no conversion
/// (dst is bf16 itself with `bf16Output` or `bf16Activations`). Training's backward hands
/// both kernels one bf16 copy of diff_dst (`Convolution.backward`).
final class ConvPlan {
    let g: ConvGeometry
    let format: ActivationFormat
    let algorithm: dnnl_alg_kind_t
    /// Whether the forward primitive is an inference one (Winograd with weights transformed when packed).
    let inference: Bool
    let plainWeights: dnnl_memory_desc_t
    let biasDesc: dnnl_memory_desc_t

    let forwardPD: dnnl_primitive_desc_t
    let forwardPrimitive: dnnl_primitive_t
    let fSrc, fDst: ActivationPort
    let fWeights: BoundMemory
    let fBias: BoundMemory?
    let forwardPack: ReorderPlan?
    /// Bytes of the forward weight format when it differs from OIHW (packed into the shared scratch).
    let forwardPacked: Int?

    /// Whether channels-last convolutions of this geometry use Winograd: 3x3, stride 1,
    /// padding 1, channel counts multiples of 16 and a map of at most 512 positions
    /// (`winogradMaxPositions`) and a batch of at least 8, in fp32 (oneDNN has no bf16 Winograd) (measured: there the kernel's gain outweighs the weight
    /// transform and the activation reorders it needs each call; on
    /// ResNet-50 at 256x128 that is layer2 to layer4). A deterministic rule,
    /// so that every rank computes with the same algorithm.
    /// With `inference` (weights packed once, so never transformed per call), also any
    /// batch and map size when both channel counts are at least 64 (measured on ResNet-50
    /// at 256x128: layer1's 64-channel 3x3 at batch 32 takes 9.3 ms instead of 21.9, and
    /// every 3x3 of 112 to 512 channels gains at batch 1; 16-channel ones lose).
    /// The inference rule takes any channel counts: the blocked layout Winograd works in
    /// pads them to 16 (measured on ResNet-50 at 256x128, batch 1: a pruned layer4 3x3 of
    /// 512 -> 451 channels takes 1.08 ms as Winograd against 2.14 ms direct, the same as
    /// 512 -> 464).
    static func usesWinograd(_ g: ConvGeometry, inference: Bool = false) -> Bool {
        guard winogradEnabled && g.precision == .fp32 && g.postOps != .sumRelu && g.kernelH == 3 && g.kernelW == 3
                && g.strideH == 1 && g.strideW == 1 && g.padH == 1 && g.padW == 1 else { return false }
        let multiplesOf16 = g.inChannels % 16 == 0 && g.outChannels % 16 == 0
        if multiplesOf16 && g.height * g.width <= ConvPlan.winogradMaxPositions && g.batch >= 8 { return true }
        return inference && min(g.inChannels, g.outChannels) >= 64
    }

    static let winogradMaxPositions = 512

    /// Off with REIDPRUNE_WINOGRAD=0 or `Convolution.allowWinograd = false` (every
    /// convolution then uses the direct algorithm).
    nonisolated(unsafe) static var winogradEnabled = ProcessInfo.processInfo.environment["REIDPRUNE_WINOGRAD"] != "0"

    /// `inference`: a Winograd plan for weights that stay fixed (`Convolution.pack`): its
    /// weights are transformed once, when packed, instead of inside every call.
    init(_ g: ConvGeometry, format: ActivationFormat, inference: Bool = false) {
        self.g = g
        self.format = format
        plainWeights = memoryDesc(g.weightShape, dnnl_oihw)
        biasDesc = memoryDesc([g.outChannels], dnnl_a)
        var made: (dnnl_primitive_desc_t, dnnl_primitive_t)?
        var algorithm = dnnl_convolution_direct
        if format == .nhwc && ConvPlan.usesWinograd(g, inference: inference) {
            made = ConvPlan.makeForward(g, .blocked, dnnl_convolution_winograd, biasDesc, inference: inference)
            if made != nil { algorithm = dnnl_convolution_winograd }
        }
        self.inference = inference && made != nil
        if made == nil { made = ConvPlan.makeForward(g, format, dnnl_convolution_direct, biasDesc) }
        guard let (pd, primitive) = made else { fatalError("oneDNN has no forward convolution for \(g)") }
        self.algorithm = algorithm
        forwardPD = pd
        forwardPrimitive = primitive
        fSrc = ActivationPort(chosen: queryDesc(pd, dnnl_query_src_md), nhwcShape: g.inputShape, incoming: true,
                              slot: .activationA, callers: format, callersType: g.bf16Activations ? dnnl_bf16 : dnnl_f32)
        fDst = ActivationPort(chosen: queryDesc(pd, dnnl_query_dst_md), nhwcShape: g.outputShape, incoming: false,
                              slot: .activationB, callers: format, callersType: g.bf16Activations || g.bf16Output ? dnnl_bf16 : dnnl_f32)
        let chosen = queryDesc(pd, dnnl_query_weights_md)
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

    private static func makeForward(_ g: ConvGeometry, _ format: ActivationFormat, _ alg: dnnl_alg_kind_t,
                                     _ biasDesc: dnnl_memory_desc_t,
                                     inference: Bool = false) -> (dnnl_primitive_desc_t, dnnl_primitive_t)? {
        require(!(g.bf16Activations || g.bf16Output) || g.precision == .bf16,
                "ConvGeometry: bf16 activations need bf16 precision (\(g))")
        let low = g.precision.inputType
        var src = activationDesc(g.inputShape, format, type: low)
        var dst = activationDesc(g.outputShape, format, type: g.bf16Activations || g.bf16Output ? dnnl_bf16 : dnnl_f32)
        var weights = memoryDesc(g.weightShape, dnnl_format_tag_any, type: low)
        var bias = biasDesc
        var desc = dnnl_convolution_desc_t()
        let s = strides(g), p = padding(g)
        // forward_inference makes Winograd expect pre-transformed weights: right when they
        // are packed once (`inference`), a costly reorder per call in training, where the
        // training descriptor transforms them inside the kernel.
        let prop = inference ? dnnl_forward_inference : dnnl_forward_training
        let status = g.hasBias
            ? dnnl_convolution_forward_desc_init(&desc, prop, alg, &src, &weights, &bias, &dst, s, p, p)
            : dnnl_convolution_forward_desc_init(&desc, prop, alg, &src, &weights, nil, &dst, s, p, p)
        guard status == dnnl_success else { return nil }
        guard g.postOps != .none else { return tryMakePrimitive(&desc) }
        var attr: dnnl_primitive_attr_t?
        var ops: dnnl_post_ops_t?
        DNNL.check(dnnl_primitive_attr_create(&attr), "creating convolution attributes")
        DNNL.check(dnnl_post_ops_create(&ops), "creating post-ops")
        if g.postOps == .sumRelu { DNNL.check(dnnl_post_ops_append_sum(ops, 1), "appending a sum") }
        DNNL.check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "appending ReLU")
        DNNL.check(dnnl_primitive_attr_set_post_ops(attr, ops), "setting post-ops")
        dnnl_post_ops_destroy(ops)
        defer { dnnl_primitive_attr_destroy(attr) }
        return tryMakePrimitive(&desc, attr: attr)
    }

    /// Activations in channels-last or left to the primitive (`dnnl_format_tag_any`).
    static func activationDesc(_ nhwcShape: [Int], _ format: ActivationFormat,
                               type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
        let logical = [nhwcShape[0], nhwcShape[3], nhwcShape[1], nhwcShape[2]]
        return memoryDesc(logical, format == .nhwc ? dnnl_nhwc : dnnl_format_tag_any, type: type)
    }

    /// The layout the backward primitives ask for: the forward's, or any for Winograd.
    var backwardFormat: ActivationFormat { algorithm == dnnl_convolution_winograd ? .blocked : format }

    static func strides(_ g: ConvGeometry) -> [Int64] { [Int64(g.strideH), Int64(g.strideW)] }
    static func padding(_ g: ConvGeometry) -> [Int64] { [Int64(g.padH), Int64(g.padW)] }

    var implementation: String { implementationName(forwardPD) }

    /// Packs plain OIHW weights into the forward primitive's format; returns the pointer to use.
    func packForward(_ weight: UnsafeMutablePointer<Float>) -> UnsafeMutableRawPointer {
        guard let forwardPack, let forwardPacked else { return UnsafeMutableRawPointer(weight) }
        let context = DNNL.current, scratch = context.scratch(.weights, forwardPacked)
        context.accountedWeightReorder(.forward) { forwardPack.run(UnsafeMutableRawPointer(weight), scratch) }
        return scratch
    }

    func forward(x: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>,
                 bias: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        runForward(x: UnsafeMutableRawPointer(x), packedWeight: packForward(weight),
                   bias: bias.map { UnsafeMutableRawPointer($0) }, y: UnsafeMutableRawPointer(y))
    }

    /// x and y in channels-last (or, for `.blocked` plans, in the primitive's layout).
    func runForward(x: UnsafeMutableRawPointer, packedWeight: UnsafeMutableRawPointer,
                    bias: UnsafeMutableRawPointer?, y: UnsafeMutableRawPointer) {
        var args = [(Arg.src, fSrc.bindIncoming(x)), (Arg.weights, fWeights.bind(packedWeight)),
                    (Arg.dst, fDst.bindOutgoing(y))]
        if let fBias, let bias { args.append((Arg.bias, fBias.bind(bias))) }
        DNNL.current.execute(forwardPrimitive, args, "forward convolution \(g)", convolution: .forward)
        fDst.finishOutgoing(y)
    }

    // MARK: backward data

    final class BackwardData {
        let pd: dnnl_primitive_desc_t
        let primitive: dnnl_primitive_t
        let diffSrc, diffDst: ActivationPort
        let weights: BoundMemory
        let pack: ReorderPlan?
        let packed: Int?

        init(_ plan: ConvPlan) {
            let g = plan.g
            require(!g.bf16Activations && !g.bf16Output, "ConvGeometry: bf16 activations are for forward passes only (\(g))")
            let low = g.precision.inputType
            var diffSrc = ConvPlan.activationDesc(g.inputShape, plan.backwardFormat)
            var diffDst = ConvPlan.activationDesc(g.outputShape, plan.backwardFormat, type: low)
            var weights = memoryDesc(g.weightShape, dnnl_format_tag_any, type: low)
            var desc = dnnl_convolution_desc_t()
            let s = ConvPlan.strides(g), p = ConvPlan.padding(g)
            DNNL.check(dnnl_convolution_backward_data_desc_init(&desc, plan.algorithm, &diffSrc, &weights,
                                                                &diffDst, s, p, p), "describing \(g)")
            (pd, primitive) = makePrimitive(&desc, hint: plan.forwardPD, "backward-data convolution \(g)")
            self.diffSrc = ActivationPort(chosen: queryDesc(pd, dnnl_query_diff_src_md), nhwcShape: g.inputShape,
                                          incoming: false, slot: .activationA, callers: plan.format)
            self.diffDst = ActivationPort(chosen: queryDesc(pd, dnnl_query_diff_dst_md), nhwcShape: g.outputShape,
                                          incoming: true, slot: .activationB, callers: plan.format)
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
        let context = DNNL.current, scratch = context.scratch(.weights, packed)
        context.accountedWeightReorder(.backwardData) { pack.run(UnsafeMutableRawPointer(weight), scratch) }
        return scratch
    }


    /// dy (count float32 values, channels-last) converted to bfloat16 in the gradient
    /// scratch slot, for the `lowDY` of `backwardWeights` and `backwardData`.
    func convertGradient(_ dy: UnsafeMutablePointer<Float>, count: Int) -> UnsafeMutableRawPointer {
        let scratch = DNNL.current.scratch(.gradient, BF16Pack.slots(count) * 4)
        BF16Pack.conversion(count, toBF16: true).run(UnsafeMutableRawPointer(dy), scratch)
        return scratch
    }

    /// Backward-data; with `lowDY` (`convertGradient`'s bfloat16 copy of dy) the kernel
    /// reads that copy when it takes plain channels-last bf16.
    func backwardData(dy: UnsafeMutablePointer<Float>, lowDY: UnsafeMutableRawPointer? = nil, weight: UnsafeMutablePointer<Float>,
                      dx: UnsafeMutablePointer<Float>) {
        let packedWeight = packBackwardData(weight)
        runBackwardData(diffDst: backwardDataPlan.diffDst.bindIncoming(UnsafeMutableRawPointer(dy), bf16Copy: lowDY),
                        packedWeight: packedWeight, dx: UnsafeMutableRawPointer(dx))
    }

    func runBackwardData(dy: UnsafeMutableRawPointer, packedWeight: UnsafeMutableRawPointer, dx: UnsafeMutableRawPointer) {
        runBackwardData(diffDst: backwardDataPlan.diffDst.bindIncoming(dy), packedWeight: packedWeight, dx: dx)
    }

    private func runBackwardData(diffDst: dnnl_memory_t, packedWeight: UnsafeMutableRawPointer, dx: UnsafeMutableRawPointer) {
        let b = backwardDataPlan
        DNNL.current.execute(b.primitive, [(Arg.diffDst, diffDst),
                                          (Arg.weights, b.weights.bind(packedWeight)),
                                          (Arg.diffSrc, b.diffSrc.bindOutgoing(dx))], "backward-data convolution \(g)",
                             convolution: .backwardData)
        b.diffSrc.finishOutgoing(dx)
    }

    // MARK: backward weights

    final class BackwardWeights {
        let pd: dnnl_primitive_desc_t
        let primitive: dnnl_primitive_t
        let src, diffDst: ActivationPort
        let diffWeights: BoundMemory
        let diffBias: BoundMemory?
        let unpack: ReorderPlan?
        let packed: Int?

        init(_ plan: ConvPlan) {
            let g = plan.g
            require(!g.bf16Activations && !g.bf16Output, "ConvGeometry: bf16 activations are for forward passes only (\(g))")
            let low = g.precision.inputType
            var src = ConvPlan.activationDesc(g.inputShape, plan.backwardFormat, type: low)
            var diffDst = ConvPlan.activationDesc(g.outputShape, plan.backwardFormat, type: low)
            var diffWeights = memoryDesc(g.weightShape, dnnl_format_tag_any)
            var diffBias = plan.biasDesc
            var desc = dnnl_convolution_desc_t()
            let s = ConvPlan.strides(g), p = ConvPlan.padding(g)
            if g.hasBias {
                DNNL.check(dnnl_convolution_backward_weights_desc_init(&desc, plan.algorithm, &src, &diffWeights,
                                                                       &diffBias, &diffDst, s, p, p), "describing \(g)")
            } else {
                DNNL.check(dnnl_convolution_backward_weights_desc_init(&desc, plan.algorithm, &src, &diffWeights,
                                                                       nil, &diffDst, s, p, p), "describing \(g)")
            }
            (pd, primitive) = makePrimitive(&desc, hint: plan.forwardPD, "backward-weights convolution \(g)")
            self.src = ActivationPort(chosen: queryDesc(pd, dnnl_query_src_md), nhwcShape: g.inputShape, incoming: true,
                                      slot: .activationA, callers: plan.format)
            self.diffDst = ActivationPort(chosen: queryDesc(pd, dnnl_query_diff_dst_md), nhwcShape: g.outputShape,
                                          incoming: true, slot: .activationB, callers: plan.format)
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

    /// Backward-weights; with `lowDY` (`convertGradient`'s bfloat16 copy of dy) the kernel
    /// reads that copy when it takes plain channels-last bf16.
    func backwardWeights(x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, lowDY: UnsafeMutableRawPointer? = nil,
                         dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?) {
        let b = backwardWeightsPlan
        let context = DNNL.current
        let target = b.packed.map { context.scratch(.weights, $0) } ?? UnsafeMutableRawPointer(dWeight)
        runBackwardWeights(src: b.src.bindIncoming(UnsafeMutableRawPointer(x)),
                           diffDst: b.diffDst.bindIncoming(UnsafeMutableRawPointer(dy), bf16Copy: lowDY),
                           packedDiffWeight: target, dBias: dBias.map { UnsafeMutableRawPointer($0) })
        if let unpack = b.unpack {
            context.accountedWeightReorder(.backwardWeights) { unpack.run(target, UnsafeMutableRawPointer(dWeight)) }
        }
    }

    func runBackwardWeights(x: UnsafeMutableRawPointer, dy: UnsafeMutableRawPointer,
                            packedDiffWeight: UnsafeMutableRawPointer, dBias: UnsafeMutableRawPointer?) {
        let b = backwardWeightsPlan
        runBackwardWeights(src: b.src.bindIncoming(x), diffDst: b.diffDst.bindIncoming(dy), packedDiffWeight: packedDiffWeight,
                           dBias: dBias)
    }

    private func runBackwardWeights(src: dnnl_memory_t, diffDst: dnnl_memory_t, packedDiffWeight: UnsafeMutableRawPointer,
                                    dBias: UnsafeMutableRawPointer?) {
        let b = backwardWeightsPlan
        var args = [(Arg.src, src), (Arg.diffDst, diffDst),
                    (Arg.diffWeights, b.diffWeights.bind(packedDiffWeight))]
        if let diffBias = b.diffBias, let dBias { args.append((Arg.diffBias, diffBias.bind(dBias))) }
        DNNL.current.execute(b.primitive, args, "backward-weights convolution \(g)", convolution: .backwardWeights)
    }
}
