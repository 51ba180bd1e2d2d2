// BatchNorm: batch normalization over channels-last activations `x: (N, H, W, C)` with
// per-channel scale and shift `(C)`, through oneDNN: training forward (batch
// statistics), inference forward (running statistics), backward for input, scale and
// shift, each optionally fused with a following ReLU. Running statistics are updated
// as PyTorch does (momentum, unbiased variance).
import CDNNL

/// Sizes and options of one batch normalization.
public struct BatchNormGeometry: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var height: Int
    public var width: Int
    public var channels: Int
    public var epsilon: Float
    /// Apply ReLU to the output inside the same kernel (the backward pass then takes the
    /// gradient with respect to the ReLU output).
    public var fuseReLU: Bool

    public init(batch: Int, height: Int, width: Int, channels: Int, epsilon: Float = 1e-5, fuseReLU: Bool = false) {
        require(batch > 0 && height > 0 && width > 0 && channels > 0,
                     "BatchNormGeometry: invalid sizes N\(batch) \(height)x\(width) C\(channels)")
        self.batch = batch
        self.height = height
        self.width = width
        self.channels = channels
        self.epsilon = epsilon
        self.fuseReLU = fuseReLU
    }

    /// (N, H, W, C)
    public var shape: [Int] { [batch, height, width, channels] }
    /// Values per channel in a batch: N x H x W.
    public var reduction: Int { batch * height * width }

    public var description: String {
        "BN N\(batch) \(height)x\(width) C\(channels)" + (fuseReLU ? " +relu" : "")
    }

    var keyParams: [Int] {
        [batch, height, width, channels, Int(epsilon.bitPattern), fuseReLU ? 1 : 0]
    }
}

/// Batch normalization kernels.
public enum BatchNorm {
    /// Bytes of the workspace a training forward with fused ReLU writes for its backward
    /// (0 without ReLU).
    public static func workspaceBytes(_ g: BatchNormGeometry) -> Int {
        g.fuseReLU ? trainingPlan(g).workspace!.bytes : 0
    }

    /// A workspace for `forwardTraining`/`backward` when the geometry fuses ReLU, else nil.
    public static func makeWorkspace(_ g: BatchNormGeometry) -> AlignedBuffer? {
        g.fuseReLU ? AlignedBuffer(byteCount: workspaceBytes(g)) : nil
    }

    /// x: (N, H, W, C), gamma, beta: (C) -> y: (N, H, W, C); mean, variance: (C) batch
    /// statistics (variance biased, as normalization uses it).
    public static func forwardTraining(_ g: BatchNormGeometry, x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor,
                                       mean: Tensor, variance: Tensor, workspace: AlignedBuffer? = nil) {
        checkShapes(g, x: x, y: y, vectors: [gamma, beta, mean, variance], "BatchNorm.forwardTraining")
        let p = trainingPlan(g)
        var args = [(Arg.src, p.src.bind(x.data)), (Arg.dst, p.dst.bind(y.data)),
                    (Arg.scale, p.scale.bind(gamma.data)), (Arg.shift, p.shift.bind(beta.data)),
                    (Arg.mean, p.mean.bind(mean.data)), (Arg.variance, p.variance.bind(variance.data))]
        if let ws = p.workspace {
            guard let workspace, workspace.byteCount >= ws.bytes else {
                fatalError("BatchNorm.forwardTraining: \(g) needs a workspace of \(ws.bytes) bytes")
            }
            args.append((Arg.workspace, ws.bind(workspace.pointer)))
        }
        DNNL.current.execute(p.forward, args, "training batch normalization \(g)")
    }

    /// x: (N, H, W, C) with running statistics (C) -> y: (N, H, W, C)
    public static func forwardInference(_ g: BatchNormGeometry, x: Tensor, gamma: Tensor, beta: Tensor,
                                        runningMean: Tensor, runningVariance: Tensor, y: Tensor) {
        checkShapes(g, x: x, y: y, vectors: [gamma, beta, runningMean, runningVariance], "BatchNorm.forwardInference")
        let p = DNNL.current.cached(PrimitiveKey(op: .batchNormInference, params: g.keyParams)) { BatchNormInferencePlan(g) }
        DNNL.current.execute(p.forward, [(Arg.src, p.src.bind(x.data)), (Arg.dst, p.dst.bind(y.data)),
                                        (Arg.scale, p.scale.bind(gamma.data)), (Arg.shift, p.shift.bind(beta.data)),
                                        (Arg.mean, p.mean.bind(runningMean.data)),
                                        (Arg.variance, p.variance.bind(runningVariance.data))],
                            "inference batch normalization \(g)")
    }

    /// dy: (N, H, W, C) with the forward's x, mean and variance -> dx: (N, H, W, C),
    /// dGamma, dBeta: (C), all overwritten. With fused ReLU, dy is the gradient of the
    /// ReLU output and `workspace` the one the forward wrote.
    public static func backward(_ g: BatchNormGeometry, x: Tensor, dy: Tensor, gamma: Tensor, beta: Tensor,
                                mean: Tensor, variance: Tensor, workspace: AlignedBuffer? = nil,
                                dx: Tensor, dGamma: Tensor, dBeta: Tensor) {
        checkShapes(g, x: x, y: dy, vectors: [gamma, beta, mean, variance, dGamma, dBeta], "BatchNorm.backward")
        expect(dx, g.shape, .nhwc, "BatchNorm.backward input gradient")
        let p = trainingPlan(g)
        let b = p.backwardPlan
        var args = [(Arg.src, b.src.bind(x.data)), (Arg.diffDst, b.diffDst.bind(dy.data)),
                    (Arg.scale, b.scale.bind(gamma.data)), (Arg.shift, b.shift.bind(beta.data)),
                    (Arg.mean, b.mean.bind(mean.data)), (Arg.variance, b.variance.bind(variance.data)),
                    (Arg.diffSrc, b.diffSrc.bind(dx.data)), (Arg.diffScale, b.diffScale.bind(dGamma.data)),
                    (Arg.diffShift, b.diffShift.bind(dBeta.data))]
        if let ws = b.workspace {
            guard let workspace, workspace.byteCount >= ws.bytes else {
                fatalError("BatchNorm.backward: \(g) needs the forward's workspace of \(ws.bytes) bytes")
            }
            args.append((Arg.workspace, ws.bind(workspace.pointer)))
        }
        DNNL.current.execute(b.primitive, args, "backward batch normalization \(g)")
    }

    /// running = (1 - momentum) running + momentum batch, with the batch variance made
    /// unbiased (times m / (m - 1), m = N x H x W) as PyTorch does.
    public static func updateRunningStatistics(runningMean: Tensor, runningVariance: Tensor, batchMean: Tensor,
                                               batchVariance: Tensor, momentum: Float, reduction: Int) {
        let c = runningMean.count
        require(runningVariance.count == c && batchMean.count == c && batchVariance.count == c,
                     "BatchNorm.updateRunningStatistics: sizes \(runningMean.shape), \(runningVariance.shape), "
                        + "\(batchMean.shape), \(batchVariance.shape) differ")
        let unbias = reduction > 1 ? Float(reduction) / Float(reduction - 1) : 1
        for i in 0..<c {
            runningMean[i] = (1 - momentum) * runningMean[i] + momentum * batchMean[i]
            runningVariance[i] = (1 - momentum) * runningVariance[i] + momentum * batchVariance[i] * unbias
        }
    }

    private static func checkShapes(_ g: BatchNormGeometry, x: Tensor, y: Tensor, vectors: [Tensor], _ what: String) {
        expect(x, g.shape, .nhwc, "\(what) input")
        expect(y, g.shape, .nhwc, "\(what) output")
        for v in vectors { expect(v, [g.channels], .x, "\(what) per-channel vector") }
    }

    static func trainingPlan(_ g: BatchNormGeometry) -> BatchNormTrainingPlan {
        DNNL.current.cached(PrimitiveKey(op: .batchNormTraining, params: g.keyParams)) { BatchNormTrainingPlan(g) }
    }

    static func flags(_ g: BatchNormGeometry, globalStats: Bool) -> UInt32 {
        var f = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
        if g.fuseReLU { f |= dnnl_fuse_norm_relu.rawValue }
        if globalStats { f |= dnnl_use_global_stats.rawValue }
        return f
    }

    static func dataDesc(_ g: BatchNormGeometry) -> dnnl_memory_desc_t {
        memoryDesc([g.batch, g.channels, g.height, g.width], dnnl_nhwc)
    }
}

final class BatchNormTrainingPlan {
    let g: BatchNormGeometry
    let forwardPD: dnnl_primitive_desc_t
    let forward: dnnl_primitive_t
    let src, dst, scale, shift, mean, variance: BoundMemory
    let workspace: BoundMemory?

    init(_ g: BatchNormGeometry) {
        self.g = g
        var data = BatchNorm.dataDesc(g)
        var desc = dnnl_batch_normalization_desc_t()
        DNNL.check(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_training, &data, g.epsilon,
                                                              BatchNorm.flags(g, globalStats: false)), "describing \(g)")
        (forwardPD, forward) = makePrimitive(&desc, "training batch normalization \(g)")
        let channel = memoryDesc([g.channels], dnnl_a)
        src = BoundMemory(data)
        dst = BoundMemory(queryDesc(forwardPD, dnnl_query_dst_md))
        scale = BoundMemory(channel)
        shift = BoundMemory(channel)
        mean = BoundMemory(channel)
        variance = BoundMemory(channel)
        workspace = g.fuseReLU ? BoundMemory(queryDesc(forwardPD, dnnl_query_workspace_md)) : nil
    }

    final class Backward {
        let primitive: dnnl_primitive_t
        let src, diffDst, scale, shift, mean, variance, diffSrc, diffScale, diffShift: BoundMemory
        let workspace: BoundMemory?

        init(_ plan: BatchNormTrainingPlan) {
            let g = plan.g
            var data = BatchNorm.dataDesc(g)
            var diff = BatchNorm.dataDesc(g)
            var desc = dnnl_batch_normalization_desc_t()
            DNNL.check(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &data, g.epsilon,
                                                                   BatchNorm.flags(g, globalStats: false)),
                       "describing backward \(g)")
            let pd: dnnl_primitive_desc_t
            (pd, primitive) = makePrimitive(&desc, hint: plan.forwardPD, "backward batch normalization \(g)")
            let channel = memoryDesc([g.channels], dnnl_a)
            src = BoundMemory(data)
            diffDst = BoundMemory(diff)
            diffSrc = BoundMemory(queryDesc(pd, dnnl_query_diff_src_md))
            scale = BoundMemory(channel)
            shift = BoundMemory(channel)
            mean = BoundMemory(channel)
            variance = BoundMemory(channel)
            diffScale = BoundMemory(channel)
            diffShift = BoundMemory(channel)
            workspace = g.fuseReLU ? BoundMemory(queryDesc(pd, dnnl_query_workspace_md)) : nil
        }
    }

    lazy var backwardPlan = Backward(self)
}

final class BatchNormInferencePlan {
    let forward: dnnl_primitive_t
    let src, dst, scale, shift, mean, variance: BoundMemory

    init(_ g: BatchNormGeometry) {
        var data = BatchNorm.dataDesc(g)
        var desc = dnnl_batch_normalization_desc_t()
        DNNL.check(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &data, g.epsilon,
                                                              BatchNorm.flags(g, globalStats: true)), "describing \(g)")
        let pd: dnnl_primitive_desc_t
        (pd, forward) = makePrimitive(&desc, "inference batch normalization \(g)")
        let channel = memoryDesc([g.channels], dnnl_a)
        src = BoundMemory(data)
        dst = BoundMemory(queryDesc(pd, dnnl_query_dst_md))
        scale = BoundMemory(channel)
        shift = BoundMemory(channel)
        mean = BoundMemory(channel)
        variance = BoundMemory(channel)
    }
}
