// DNNL: the process's one oneDNN CPU engine and stream, the primitive cache, thread
// control, and small helpers (status checks, memory descriptors, argument binding)
// that every kernel file uses. Nothing outside `Tensors` sees a oneDNN type.
import CDNNL
import Foundation

/// oneDNN argument ids (`DNNL_ARG_*`).
enum Arg {
    static let src: Int32 = 1
    static let dst: Int32 = 17
    static let weights: Int32 = 33
    static let bias: Int32 = 41
    static let mean: Int32 = 49
    static let variance: Int32 = 50
    static let scale: Int32 = 51
    static let shift: Int32 = 52
    static let workspace: Int32 = 64
    static let diffSrc: Int32 = 129
    static let diffDst: Int32 = 145
    static let diffWeights: Int32 = 161
    static let diffBias: Int32 = 169
    static let diffScale: Int32 = 255
    static let diffShift: Int32 = 256
}

/// Identifies a cached primitive: the operation and every size and flag it depends on.
struct PrimitiveKey: Hashable {
    enum Op: Hashable {
        case convolution(ActivationFormat)
        case batchNormTraining, batchNormInference
        case maxPool
        case relu, add
        case reorder
        case matmul
        /// f32 <-> bf16 of a plain run of values (`BF16Pack`): params [count, to bf16 ? 1 : 0].
        case bfloat16Conversion
    }
    let op: Op
    let params: [Int]
}

/// The calling thread's oneDNN context: a stream on the process's CPU engine, the cache
/// of primitives built on it, and scratch buffers. Each thread that runs kernels gets its
/// own (a primitive's bound memory and a stream serve one thread at a time), so several
/// networks can run on several threads, as the in-process multi-rank tests do.
public final class DNNL: @unchecked Sendable {
    nonisolated(unsafe) private static let engineHandle: dnnl_engine_t = {
        var e: dnnl_engine_t?
        DNNL.check(dnnl_engine_create(&e, dnnl_cpu, 0), "creating the CPU engine")
        return e!
    }()

    private static let contextKey = "reidprune.dnnl.context"

    /// This thread's context, created on first use.
    public static var current: DNNL {
        let dict = Thread.current.threadDictionary
        if let c = dict[contextKey] as? DNNL { return c }
        let c = DNNL()
        dict[contextKey] = c
        return c
    }

    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    private var cache: [PrimitiveKey: AnyObject] = [:]
    private var created = 0

    private init() {
        engine = DNNL.engineHandle
        var s: dnnl_stream_t?
        DNNL.check(dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue), "creating the stream")
        stream = s!
    }

    /// The number of oneDNN primitives this thread built so far; a training step that
    /// re-creates none leaves it unchanged.
    public var primitivesCreated: Int { created }

    func noteCreated() { created += 1 }

    /// Where this thread's convolutions are counted (nil: not counted).
    var convolutionAccounting: ConvolutionAccounting?

    /// Runs one convolution call, timed into the attached counter when there is one.
    @inline(__always)
    func accounted(_ kind: ConvolutionKind, _ body: () -> Void) {
        guard let accounting = convolutionAccounting else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        accounting.addCall(kind, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
    }

    /// Runs the reorder of a convolution's weights (into the primitive's format, or of the
    /// weight gradient out of it), timed into the attached counter when there is one.
    @inline(__always)
    func accountedWeightReorder(_ kind: ConvolutionKind, _ body: () -> Void) {
        guard let accounting = convolutionAccounting else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        accounting.addWeightReorder(kind, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
    }

    /// Sets the number of threads oneDNN's OpenMP runtime uses from now on.
    public static func setThreads(_ n: Int) {
        require(n >= 1, "DNNL.setThreads: thread count must be at least 1, got \(n)")
        _ = reidprune_omp_set_num_threads(Int32(n))
    }

    /// The number of threads oneDNN uses.
    public static var threads: Int { Int(reidprune_omp_get_max_threads()) }

    /// The oneDNN version as "major.minor.patch".
    public static var version: String {
        let v = dnnl_version()!.pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// Scratch buffers shared by the thread's kernels for data that lives only during one
    /// call (kernels run one at a time on the thread's stream).
    enum ScratchSlot: Int, CaseIterable {
        /// Weights packed into a primitive's format.
        case weights
        /// Activations reordered into a primitive's own layout (two may be live at once).
        case activationA, activationB
        /// An output gradient converted to bfloat16 once for both backward kernels.
        case gradient
    }

    private var scratchBuffers: [AlignedBuffer?] = Array(repeating: nil, count: ScratchSlot.allCases.count)

    /// The slot's buffer, grown to at least `bytes`.
    func scratch(_ slot: ScratchSlot, _ bytes: Int) -> UnsafeMutableRawPointer {
        if let b = scratchBuffers[slot.rawValue], b.byteCount >= bytes { return b.pointer }
        let buffer = AlignedBuffer(byteCount: bytes)
        scratchBuffers[slot.rawValue] = buffer
        return buffer.pointer
    }

    /// The cached object for `key`, built by `make` the first time.
    func isCached(_ key: PrimitiveKey) -> Bool { cache[key] != nil }

    /// Drops one cached primitive (its resources go with the last reference).
    func forget(_ key: PrimitiveKey) { cache[key] = nil }

    func cached<T: AnyObject>(_ key: PrimitiveKey, _ make: () -> T) -> T {
        if let hit = cache[key] { return hit as! T }
        let value = make()
        cache[key] = value
        return value
    }

    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        if status != dnnl_success {
            let message = String(cString: dnnl_status2str(status))
            fatalError("oneDNN failed (\(message)) while \(what())")
        }
    }

    /// Runs a primitive with the given (argument id, memory) pairs and waits for it. A
    /// convolution names its pass (`convolution`) so that an attached counter gets the time.
    func execute(_ primitive: dnnl_primitive_t, _ args: [(Int32, dnnl_memory_t)], _ what: @autoclosure () -> String,
                 convolution: ConvolutionKind? = nil) {
        var exec = args.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1) }
        let accounting = convolution == nil ? nil : convolutionAccounting
        let start = accounting == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        DNNL.check(dnnl_primitive_execute(primitive, stream, Int32(exec.count), &exec), what())
        DNNL.check(dnnl_stream_wait(stream), what())
        if let accounting, let convolution {
            accounting.addPrimitive(convolution, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
        }
    }
}

/// A memory descriptor made from logical dims (always N, C, H, W order for oneDNN) and a tag.
func memoryDesc(_ dims: [Int], _ tag: dnnl_format_tag_t, type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let d = dims.map { Int64($0) }
    DNNL.check(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, type, tag), "describing memory \(dims)")
    return md
}

/// Bytes a memory descriptor needs.
func byteSize(_ md: dnnl_memory_desc_t) -> Int {
    var m = md
    return Int(dnnl_memory_desc_get_size(&m))
}

func sameDesc(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
    var x = a, y = b
    return dnnl_memory_desc_equal(&x, &y) != 0
}

/// The memory descriptor a primitive descriptor chose for `query` (weights, src, ...).
func queryDesc(_ pd: dnnl_primitive_desc_t, _ query: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t {
    guard let md = dnnl_primitive_desc_query_md(pd, query, index) else {
        fatalError("oneDNN: primitive descriptor has no memory for query \(query)")
    }
    return md.pointee
}

/// The implementation oneDNN picked for a primitive descriptor (for example "jit:avx512_core").
func implementationName(_ pd: dnnl_primitive_desc_t) -> String {
    var name: UnsafePointer<CChar>?
    guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else {
        return "unknown"
    }
    return String(cString: name)
}

/// A oneDNN memory object whose data pointer is set before each execution.
final class BoundMemory {
    let memory: dnnl_memory_t
    let desc: dnnl_memory_desc_t
    let bytes: Int

    init(_ md: dnnl_memory_desc_t) {
        desc = md
        bytes = byteSize(md)
        var m: dnnl_memory_t?
        var d = md
        DNNL.check(dnnl_memory_create(&m, &d, DNNL.current.engine, nil), "creating a memory object")
        memory = m!
    }

    /// Points the memory object at `pointer` and returns it, ready for an argument list.
    func bind(_ pointer: UnsafeMutableRawPointer) -> dnnl_memory_t {
        DNNL.check(dnnl_memory_set_data_handle_v2(memory, pointer, DNNL.current.stream), "binding memory")
        return memory
    }

    func bind(_ pointer: UnsafeMutablePointer<Float>) -> dnnl_memory_t { bind(UnsafeMutableRawPointer(pointer)) }

    deinit { dnnl_memory_destroy(memory) }
}

/// A primitive descriptor and primitive, or nil when oneDNN has no implementation.
func tryMakePrimitive(_ desc: UnsafeRawPointer, hint: dnnl_primitive_desc_t? = nil,
                      attr: dnnl_primitive_attr_t? = nil) -> (dnnl_primitive_desc_t, dnnl_primitive_t)? {
    var pd: dnnl_primitive_desc_t?
    guard dnnl_primitive_desc_create(&pd, desc, attr, DNNL.current.engine, hint) == dnnl_success, let pd else { return nil }
    var prim: dnnl_primitive_t?
    guard dnnl_primitive_create(&prim, pd) == dnnl_success, let prim else {
        dnnl_primitive_desc_destroy(pd)
        return nil
    }
    DNNL.current.noteCreated()
    return (pd, prim)
}

/// Creates a primitive descriptor from an operation descriptor and the primitive itself.
func makePrimitive(_ desc: UnsafeRawPointer, hint: dnnl_primitive_desc_t? = nil, attr: dnnl_primitive_attr_t? = nil,
                   _ what: String) -> (dnnl_primitive_desc_t, dnnl_primitive_t) {
    var pd: dnnl_primitive_desc_t?
    DNNL.check(dnnl_primitive_desc_create(&pd, desc, attr, DNNL.current.engine, hint), "creating \(what)")
    var prim: dnnl_primitive_t?
    DNNL.check(dnnl_primitive_create(&prim, pd!), "creating \(what)")
    DNNL.current.noteCreated()
    return (pd!, prim!)
}

/// A cached reorder between two memory descriptors (plain OIHW weights to a blocked
/// format and back, NCHW to NHWC, ...).
final class ReorderPlan {
    let primitive: dnnl_primitive_t
    let from: BoundMemory
    let to: BoundMemory

    init(from src: dnnl_memory_desc_t, to dst: dnnl_memory_desc_t) {
        var s = src, d = dst
        var pd: dnnl_primitive_desc_t?
        let engine = DNNL.current.engine
        DNNL.check(dnnl_reorder_primitive_desc_create(&pd, &s, engine, &d, engine, nil), "creating a reorder")
        var prim: dnnl_primitive_t?
        DNNL.check(dnnl_primitive_create(&prim, pd!), "creating a reorder")
        dnnl_primitive_desc_destroy(pd)
        DNNL.current.noteCreated()
        primitive = prim!
        from = BoundMemory(src)
        to = BoundMemory(dst)
    }

    func run(_ src: UnsafeMutableRawPointer, _ dst: UnsafeMutableRawPointer) {
        DNNL.current.execute(primitive, [(Arg.src, from.bind(src)), (Arg.dst, to.bind(dst))], "reordering")
    }
}
