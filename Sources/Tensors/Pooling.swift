// Pooling: max pooling through oneDNN (with the workspace its backward needs) and
// global average pooling as plain loops, on channels-last activations
// `x: (N, H, W, C)`. Global average pooling gives `(N, C)`, the re-ID embedding input.
import CDNNL
import Foundation

/// Sizes of one max pooling: input (N, H, W, C), square window, stride, padding.
public struct PoolGeometry: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var height: Int
    public var width: Int
    public var channels: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int

    /// ResNet's stem pooling by default: 3x3, stride 2, padding 1.
    public init(batch: Int, height: Int, width: Int, channels: Int, kernel: Int = 3, stride: Int = 2, padding: Int = 1) {
        self.batch = batch
        self.height = height
        self.width = width
        self.channels = channels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        require(batch > 0 && channels > 0 && kernel > 0 && stride > 0 && padding >= 0 && padding * 2 <= kernel
                     && outHeight > 0 && outWidth > 0, "PoolGeometry: invalid sizes \(self)")
    }

    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    public var inputShape: [Int] { [batch, height, width, channels] }
    public var outputShape: [Int] { [batch, outHeight, outWidth, channels] }

    public var description: String {
        "maxpool N\(batch) \(height)x\(width) C\(channels) k\(kernel) s\(stride) p\(padding)"
    }
}

/// Pooling kernels.
public enum Pooling {
    /// Bytes of the workspace (argmax positions) that `maxForward` writes for `maxBackward`.
    public static func workspaceBytes(_ g: PoolGeometry) -> Int { plan(g).workspace.bytes }

    public static func makeWorkspace(_ g: PoolGeometry) -> AlignedBuffer {
        AlignedBuffer(byteCount: workspaceBytes(g))
    }

    /// x: (N, H, W, C) -> y: (N, H', W', C); records argmax positions in `workspace`.
    public static func maxForward(_ g: PoolGeometry, x: Tensor, y: Tensor, workspace: AlignedBuffer) {
        expect(x, g.inputShape, .nhwc, "Pooling.maxForward input")
        expect(y, g.outputShape, .nhwc, "Pooling.maxForward output")
        let p = plan(g)
        require(workspace.byteCount >= p.workspace.bytes, "Pooling.maxForward: workspace too small for \(g)")
        DNNL.current.execute(p.forward, [(Arg.src, p.src.bind(x.data)), (Arg.dst, p.dst.bind(y.data)),
                                        (Arg.workspace, p.workspace.bind(workspace.pointer))], "\(g) forward")
    }

    /// dy: (N, H', W', C) and the forward's workspace -> dx: (N, H, W, C) (overwritten)
    public static func maxBackward(_ g: PoolGeometry, dy: Tensor, workspace: AlignedBuffer, dx: Tensor) {
        expect(dy, g.outputShape, .nhwc, "Pooling.maxBackward output gradient")
        expect(dx, g.inputShape, .nhwc, "Pooling.maxBackward input gradient")
        let p = plan(g)
        let b = p.backwardPlan
        require(workspace.byteCount >= p.workspace.bytes, "Pooling.maxBackward: workspace too small for \(g)")
        DNNL.current.execute(b.primitive, [(Arg.diffDst, b.diffDst.bind(dy.data)), (Arg.diffSrc, b.diffSrc.bind(dx.data)),
                                          (Arg.workspace, b.workspace.bind(workspace.pointer))], "\(g) backward")
    }

    /// x: (N, H, W, C) -> y: (N, C), the mean over H and W.
    public static func globalAverageForward(x: Tensor, y: Tensor) {
        require(x.layout == .nhwc, "Pooling.globalAverageForward: input must be nhwc, got \(x.layout) \(x.shape)")
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        expect(y, [n, c], .nc, "Pooling.globalAverageForward output")
        let scale = 1 / Float(h * w)
        let src = x.data, dst = y.data
        parallelFor(n) { i in
            let out = dst + i * c
            out.update(repeating: 0, count: c)
            var p = src + i * h * w * c
            for _ in 0..<(h * w) {
                for k in 0..<c { out[k] += p[k] }
                p += c
            }
            for k in 0..<c { out[k] *= scale }
        }
    }

    /// dy: (N, C) -> dx: (N, H, W, C) (overwritten), each position receiving dy / (H W).
    public static func globalAverageBackward(dy: Tensor, dx: Tensor) {
        require(dx.layout == .nhwc, "Pooling.globalAverageBackward: gradient must be nhwc, got \(dx.layout) \(dx.shape)")
        let (n, h, w, c) = (dx.shape[0], dx.shape[1], dx.shape[2], dx.shape[3])
        expect(dy, [n, c], .nc, "Pooling.globalAverageBackward output gradient")
        let scale = 1 / Float(h * w)
        let src = dy.data, dst = dx.data
        parallelFor(n) { i in
            let g = src + i * c
            var p = dst + i * h * w * c
            for _ in 0..<(h * w) {
                for k in 0..<c { p[k] = g[k] * scale }
                p += c
            }
        }
    }

    static func plan(_ g: PoolGeometry) -> MaxPoolPlan {
        DNNL.current.cached(PrimitiveKey(op: .maxPool, params: [g.batch, g.height, g.width, g.channels, g.kernel,
                                                               g.stride, g.padding])) { MaxPoolPlan(g) }
    }
}

final class MaxPoolPlan {
    let g: PoolGeometry
    let forwardPD: dnnl_primitive_desc_t
    let forward: dnnl_primitive_t
    let src, dst, workspace: BoundMemory

    init(_ g: PoolGeometry) {
        self.g = g
        var s = memoryDesc([g.batch, g.channels, g.height, g.width], dnnl_nhwc)
        var d = memoryDesc([g.batch, g.channels, g.outHeight, g.outWidth], dnnl_nhwc)
        var desc = dnnl_pooling_v2_desc_t()
        let (st, k, dil, p) = MaxPoolPlan.params(g)
        DNNL.check(dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_training, dnnl_pooling_max, &s, &d,
                                                     st, k, dil, p, p), "describing \(g)")
        (forwardPD, forward) = makePrimitive(&desc, "\(g)")
        src = BoundMemory(s)
        dst = BoundMemory(d)
        workspace = BoundMemory(queryDesc(forwardPD, dnnl_query_workspace_md))
    }

    static func params(_ g: PoolGeometry) -> ([Int64], [Int64], [Int64], [Int64]) {
        ([Int64(g.stride), Int64(g.stride)], [Int64(g.kernel), Int64(g.kernel)], [0, 0],
         [Int64(g.padding), Int64(g.padding)])
    }

    final class Backward {
        let primitive: dnnl_primitive_t
        let diffSrc, diffDst, workspace: BoundMemory

        init(_ plan: MaxPoolPlan) {
            let g = plan.g
            var s = memoryDesc([g.batch, g.channels, g.height, g.width], dnnl_nhwc)
            var d = memoryDesc([g.batch, g.channels, g.outHeight, g.outWidth], dnnl_nhwc)
            var desc = dnnl_pooling_v2_desc_t()
            let (st, k, dil, p) = MaxPoolPlan.params(g)
            DNNL.check(dnnl_pooling_v2_backward_desc_init(&desc, dnnl_pooling_max, &s, &d, st, k, dil, p, p),
                       "describing backward \(g)")
            let pd: dnnl_primitive_desc_t
            (pd, primitive) = makePrimitive(&desc, hint: plan.forwardPD, "backward \(g)")
            diffSrc = BoundMemory(s)
            diffDst = BoundMemory(d)
            workspace = BoundMemory(queryDesc(pd, dnnl_query_workspace_md))
        }
    }

    lazy var backwardPlan = Backward(self)
}

