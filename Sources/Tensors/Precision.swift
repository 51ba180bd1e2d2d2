// Precision: the arithmetic of convolutions and linear layers, fp32 or bfloat16 (bf16
// inputs and weights, fp32 accumulation and outputs), and the check that this CPU runs
// oneDNN's bf16 kernels natively (AVX512_BF16 or AMX) rather than emulating them.
import CDNNL

public enum Precision: String, Codable, CaseIterable, Sendable {
    /// Everything in float32.
    case fp32
    /// Activations, weights and output gradients converted to bfloat16 at the kernel's
    /// boundary; products accumulate in float32 and results (outputs, input and weight
    /// gradients) are float32. Master weights stay float32.
    case bf16

    /// The oneDNN data type of a kernel's bf16-able inputs (src, weights, diff_dst).
    var inputType: dnnl_data_type_t { self == .bf16 ? dnnl_bf16 : dnnl_f32 }

    /// Bytes of one input element.
    var inputBytes: Int { self == .bf16 ? 2 : 4 }

    /// The widest instruction set oneDNN uses on this machine (for example
    /// "avx512_core_bf16"), after any DNNL_MAX_CPU_ISA limit.
    public static var effectiveISA: String {
        String(cString: dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()))
    }

    /// Whether oneDNN runs bf16 convolutions and matrix products natively here: its
    /// effective ISA includes avx512_core_bf16 (which AMX builds on). The ISA values are
    /// bit sets, so this is a subset test rather than a comparison.
    public static var nativeBF16: Bool {
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return dnnl_get_effective_cpu_isa().rawValue & bf16 == bf16
    }

    /// Throws, naming `key` (the recipe key or option that asked for it), when this
    /// precision cannot run at full speed here; fp32 always can.
    public func requireSupported(key: String) throws {
        guard self == .bf16, !Precision.nativeBF16 else { return }
        throw PrecisionUnavailable(description: "\(key): bf16 needs a CPU with native bfloat16 (AVX512_BF16 or AMX); "
                                   + "oneDNN's best instruction set here is \(Precision.effectiveISA) — use fp32")
    }
}

/// bf16 was asked for on a machine without native bf16 arithmetic.
public struct PrecisionUnavailable: Error, CustomStringConvertible {
    public let description: String
}
