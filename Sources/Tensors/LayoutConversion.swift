// LayoutConversion: reorders between PyTorch's NCHW activations and the channels-last
// NHWC layout the kernels use, through cached oneDNN reorders. Weights need none: the
// convolution kernels take PyTorch's OIHW order directly.
import CDNNL

/// Conversions between activation layouts.
public enum LayoutConversion {
    /// x: (N, C, H, W) -> (N, H, W, C)
    public static func toNHWC(_ x: Tensor) -> Tensor {
        require(x.layout == .nchw, "LayoutConversion.toNHWC: expected an nchw tensor, got \(x.layout) \(x.shape)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let y = Tensor(shape: [n, h, w, c], layout: .nhwc)
        plan([n, c, h, w], toNHWC: true).run(UnsafeMutableRawPointer(x.data), UnsafeMutableRawPointer(y.data))
        return y
    }

    /// x: (N, H, W, C) -> (N, C, H, W)
    public static func toNCHW(_ x: Tensor) -> Tensor {
        require(x.layout == .nhwc, "LayoutConversion.toNCHW: expected an nhwc tensor, got \(x.layout) \(x.shape)")
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let y = Tensor(shape: [n, c, h, w], layout: .nchw)
        plan([n, c, h, w], toNHWC: false).run(UnsafeMutableRawPointer(x.data), UnsafeMutableRawPointer(y.data))
        return y
    }

    private static func plan(_ logical: [Int], toNHWC: Bool) -> ReorderPlan {
        DNNL.current.cached(PrimitiveKey(op: .reorder, params: logical + [toNHWC ? 1 : 0])) {
            let nchw = memoryDesc(logical, dnnl_nchw), nhwc = memoryDesc(logical, dnnl_nhwc)
            return toNHWC ? ReorderPlan(from: nchw, to: nhwc) : ReorderPlan(from: nhwc, to: nchw)
        }
    }
}
