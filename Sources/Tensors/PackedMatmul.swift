// PackedMatmul: C (m, n) = alpha A (m, k) Bᵀ, row-major float32, for many blocks of A rows
// against one B (n, k). B is reordered once into the layout oneDNN's matmul prefers, so a
// block of rows does not pack all of B again as each dnnl_sgemm call would: query blocks
// against a whole gallery keep the speed of one large product.
import CDNNL
import Foundation

public final class PackedMatmul {
    /// Rows of A per product (a shorter last block is padded by the caller), columns of C,
    /// and the shared dimension.
    public let rows: Int, n: Int, k: Int
    private let pd: dnnl_primitive_desc_t
    private let primitive: dnnl_primitive_t
    /// B in the primitive's layout (not zero-filled first: the reorder writes all of it).
    private let packed: UnsafeMutableRawPointer
    private let a: BoundMemory, b: BoundMemory, c: BoundMemory

    /// b: (n, k) row-major, read once here; alpha scales every product.
    public init(b pointer: UnsafePointer<Float>, n: Int, k: Int, rows: Int, alpha: Float = 1) {
        require(rows > 0 && n > 0 && k > 0, "PackedMatmul: sizes rows \(rows) n \(n) k \(k)")
        (self.rows, self.n, self.k) = (rows, n, k)
        var src = memoryDesc([rows, k], dnnl_ab)
        var dst = memoryDesc([rows, n], dnnl_ab)
        let plainB = memoryDesc([k, n], dnnl_ba)
        var anyB = memoryDesc([k, n], dnnl_format_tag_any)
        var desc = dnnl_matmul_desc_t()
        DNNL.check(dnnl_matmul_desc_init(&desc, &src, &anyB, nil, &dst), "describing a matmul \(rows) x \(n) x \(k)")
        var attr: dnnl_primitive_attr_t?
        DNNL.check(dnnl_primitive_attr_create(&attr), "creating matmul attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        if alpha != 1 {
            var scale = alpha
            DNNL.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "setting the matmul scale")
        }
        (pd, primitive) = makePrimitive(&desc, attr: attr, "matmul \(rows) x \(n) x \(k)")
        let packedB = queryDesc(pd, dnnl_query_weights_md)
        a = BoundMemory(src)
        b = BoundMemory(packedB)
        c = BoundMemory(dst)
        packed = PackedMatmul.allocateLarge(b.bytes)
        if sameDesc(plainB, packedB) {
            packed.copyMemory(from: pointer, byteCount: n * k * 4)
        } else {
            ReorderPlan(from: plainB, to: packedB).run(UnsafeMutableRawPointer(mutating: pointer), packed)
        }
    }

    deinit {
        free(packed)
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    /// `bytes` of uninitialized memory, 2 MB aligned and marked for transparent huge pages
    /// where Linux offers them: a 130 MB packed gallery then takes 65 page faults, not 32,000.
    static func allocateLarge(_ bytes: Int) -> UnsafeMutableRawPointer {
        let huge = 2 << 20, size = max(bytes, 64)
        var p: UnsafeMutableRawPointer?
        require(posix_memalign(&p, huge, size) == 0 && p != nil, "PackedMatmul: cannot allocate \(size) bytes")
        #if os(Linux)
        if size >= huge { _ = madvise(p, size / huge * huge, MADV_HUGEPAGE) }
        #endif
        return p!
    }

    /// The implementation oneDNN picked (for example "brg:avx512_core").
    public var implementation: String { implementationName(pd) }

    /// c (rows, n) = alpha a (rows, k) Bᵀ; a and c row-major and dense.
    public func multiply(a pa: UnsafePointer<Float>, into pc: UnsafeMutablePointer<Float>) {
        DNNL.current.execute(primitive, [(Arg.src, a.bind(UnsafeMutableRawPointer(mutating: pa))),
                                         (Arg.weights, b.bind(packed)), (Arg.dst, c.bind(pc))],
                             "matmul \(rows) x \(n) x \(k)")
    }
}
