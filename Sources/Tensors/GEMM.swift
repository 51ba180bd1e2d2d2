// GEMM: row-major single-precision matrix multiply through oneDNN's dnnl_sgemm (or, in
// bf16, oneDNN's matmul on bf16 copies with f32 accumulation), and the fully connected
// layer built on it, `x: (N, D_in) -> y: (N, D_out)` with PyTorch's weight order
// `w: (D_out, D_in)`.
import CDNNL

/// Matrix multiply kernels.
public enum GEMM {
    /// C = alpha op(A) op(B) + beta C, row-major; op(A) is (m, k), op(B) is (k, n), C is (m, n).
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        require(m >= 0 && n >= 0 && k >= 0, "GEMM.sgemm: negative size m\(m) n\(n) k\(k)")
        if m == 0 || n == 0 { return }
        let status = dnnl_sgemm(CChar(UInt8(ascii: transA ? "T" : "N")), CChar(UInt8(ascii: transB ? "T" : "N")),
                                Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        DNNL.check(status, "sgemm m\(m) n\(n) k\(k)")
    }

    /// C (m, n) = alpha op(A) op(B) + beta C on tensors of layout nc. In `.bf16`, A and B
    /// are rounded to bfloat16 (products accumulate in f32, C stays f32); alpha must be 1
    /// and beta 0 or 1 there.
    public static func matmul(_ a: Tensor, transA: Bool = false, _ b: Tensor, transB: Bool = false,
                              into c: Tensor, alpha: Float = 1, beta: Float = 0, precision: Precision = .fp32) {
        require(a.shape.count == 2 && b.shape.count == 2 && c.shape.count == 2,
                     "GEMM.matmul: needs matrices, got \(a.shape), \(b.shape), \(c.shape)")
        let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        require(k == kb && c.shape == [m, n],
                     "GEMM.matmul: shapes \(a.shape)\(transA ? "ᵀ" : "") x \(b.shape)\(transB ? "ᵀ" : "") -> \(c.shape) do not fit")
        if precision == .bf16 {
            require(alpha == 1 && (beta == 0 || beta == 1), "GEMM.matmul: bf16 needs alpha 1 and beta 0 or 1, "
                    + "got alpha \(alpha), beta \(beta)")
            if m == 0 || n == 0 { return }
            if k == 0 {
                if beta == 0 { c.zero() }
                return
            }
            BF16Matmul.plan(m: m, n: n, k: k, transA: transA, lda: a.shape[1], transB: transB, ldb: b.shape[1], ldc: n,
                            accumulate: beta == 1).run(a: a.data, b: b.data, c: c.data)
            return
        }
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: a.shape[1],
              b: b.data, ldb: b.shape[1], beta: beta, c: c.data, ldc: n)
    }
}

/// The fully connected layer's kernels.
public enum Linear {
    /// x: (N, D_in), weight: (D_out, D_in), bias: (D_out) -> y: (N, D_out). In `.bf16`, x
    /// and the weight are rounded to bfloat16 inside the product; y and the bias are f32.
    public static func forward(x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, precision: Precision = .fp32) {
        checkShapes(x: x, weight: weight, bias: bias, y: y, "Linear.forward")
        GEMM.matmul(x, weight, transB: true, into: y, precision: precision)
        if let bias {
            let (n, d) = (y.shape[0], y.shape[1])
            for i in 0..<n {
                let row = y.data + i * d
                for j in 0..<d { row[j] += bias[j] }
            }
        }
    }

    /// dy: (N, D_out) -> dx: (N, D_in) (overwritten); `.bf16` rounds dy and the weight.
    public static func backwardData(dy: Tensor, weight: Tensor, dx: Tensor, precision: Precision = .fp32) {
        checkShapes(x: dx, weight: weight, bias: nil, y: dy, "Linear.backwardData")
        GEMM.matmul(dy, weight, into: dx, precision: precision)
    }

    /// x: (N, D_in), dy: (N, D_out) -> dWeight: (D_out, D_in), dBias: (D_out); overwritten,
    /// or added to when `accumulate`. `.bf16` rounds x and dy for the weight gradient (f32
    /// result); the bias gradient sums dy in f32.
    public static func backwardWeights(x: Tensor, dy: Tensor, dWeight: Tensor, dBias: Tensor?, accumulate: Bool = false,
                                       precision: Precision = .fp32) {
        checkShapes(x: x, weight: dWeight, bias: dBias, y: dy, "Linear.backwardWeights")
        GEMM.matmul(dy, transA: true, x, into: dWeight, beta: accumulate ? 1 : 0, precision: precision)
        if let dBias {
            let (n, d) = (dy.shape[0], dy.shape[1])
            if !accumulate { dBias.zero() }
            for i in 0..<n {
                let row = dy.data + i * d
                for j in 0..<d { dBias[j] += row[j] }
            }
        }
    }

    private static func checkShapes(x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, _ what: String) {
        require(x.shape.count == 2 && weight.shape.count == 2 && y.shape.count == 2,
                     "\(what): needs (N, D_in), (D_out, D_in), (N, D_out); got \(x.shape), \(weight.shape), \(y.shape)")
        require(x.shape[1] == weight.shape[1] && y.shape == [x.shape[0], weight.shape[0]],
                     "\(what): input \(x.shape), weight \(weight.shape) and output \(y.shape) do not fit")
        if let bias {
            require(bias.count == weight.shape[0], "\(what): bias \(bias.shape) for weight \(weight.shape)")
        }
    }
}
