// BF16Matmul: the bfloat16 matrix product behind GEMM.matmul's `.bf16` path,
// C (m, n) f32 = op(A) (m, k) op(B) (k, n) (+ C), row-major float32 operands. A and B
// are converted (and transposed when asked) into dense bf16 scratch by cached reorders;
// oneDNN's matmul multiplies them with float32 accumulation straight into C.
import CDNNL

final class BF16Matmul {
    let m: Int, n: Int, k: Int
    private let toA: ReorderPlan, toB: ReorderPlan
    private let primitive: dnnl_primitive_t
    private let pd: dnnl_primitive_desc_t
    private let a: BoundMemory, b: BoundMemory, c: BoundMemory

    /// op(A) is (m, k) read with leading dimension `lda` (A is (k, m) when `transA`),
    /// op(B) is (k, n) with `ldb`, C is (m, n) with `ldc`; `accumulate` adds to C.
    init(m: Int, n: Int, k: Int, transA: Bool, lda: Int, transB: Bool, ldb: Int, ldc: Int, accumulate: Bool) {
        (self.m, self.n, self.k) = (m, n, k)
        let plainA = BF16Matmul.strided([m, k], transA ? [1, lda] : [lda, 1], dnnl_f32)
        let plainB = BF16Matmul.strided([k, n], transB ? [1, ldb] : [ldb, 1], dnnl_f32)
        var denseA = memoryDesc([m, k], dnnl_ab, type: dnnl_bf16)
        var denseB = memoryDesc([k, n], dnnl_ab, type: dnnl_bf16)
        var dst = BF16Matmul.strided([m, n], [ldc, 1], dnnl_f32)
        toA = ReorderPlan(from: plainA, to: denseA)
        toB = ReorderPlan(from: plainB, to: denseB)
        var desc = dnnl_matmul_desc_t()
        DNNL.check(dnnl_matmul_desc_init(&desc, &denseA, &denseB, nil, &dst), "describing a bf16 matmul m\(m) n\(n) k\(k)")
        var attr: dnnl_primitive_attr_t?
        DNNL.check(dnnl_primitive_attr_create(&attr), "creating matmul attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        if accumulate {
            var ops: dnnl_post_ops_t?
            DNNL.check(dnnl_post_ops_create(&ops), "creating post-ops")
            DNNL.check(dnnl_post_ops_append_sum(ops, 1), "appending a sum")
            DNNL.check(dnnl_primitive_attr_set_post_ops(attr, ops), "setting post-ops")
            dnnl_post_ops_destroy(ops)
        }
        (pd, primitive) = makePrimitive(&desc, attr: attr, "bf16 matmul m\(m) n\(n) k\(k)")
        a = BoundMemory(denseA)
        b = BoundMemory(denseB)
        c = BoundMemory(dst)
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    /// The implementation oneDNN picked (for example "brg:avx512_core_bf16").
    var implementation: String { implementationName(pd) }

    private static func strided(_ dims: [Int], _ strides: [Int], _ type: dnnl_data_type_t) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let d = dims.map { Int64($0) }, s = strides.map { Int64($0) }
        DNNL.check(dnnl_memory_desc_init_by_strides(&md, Int32(d.count), d, type, s), "describing memory \(dims)")
        return md
    }

    func run(a pa: UnsafePointer<Float>, b pb: UnsafePointer<Float>, c pc: UnsafeMutablePointer<Float>) {
        let dnnl = DNNL.current
        let sa = dnnl.scratch(.activationA, a.bytes), sb = dnnl.scratch(.weights, b.bytes)
        toA.run(UnsafeMutableRawPointer(mutating: pa), sa)
        toB.run(UnsafeMutableRawPointer(mutating: pb), sb)
        dnnl.execute(primitive, [(Arg.src, a.bind(sa)), (Arg.weights, b.bind(sb)), (Arg.dst, c.bind(pc))],
                     "bf16 matmul m\(m) n\(n) k\(k)")
    }

    /// The cached product for these sizes on this thread.
    static func plan(m: Int, n: Int, k: Int, transA: Bool, lda: Int, transB: Bool, ldb: Int, ldc: Int,
                     accumulate: Bool) -> BF16Matmul {
        let key = PrimitiveKey(op: .matmul, params: [m, n, k, transA ? 1 : 0, lda, transB ? 1 : 0, ldb, ldc,
                                                     accumulate ? 1 : 0])
        return DNNL.current.cached(key) {
            BF16Matmul(m: m, n: n, k: k, transA: transA, lda: lda, transB: transB, ldb: ldb, ldc: ldc,
                       accumulate: accumulate)
        }
    }
}
