// ExportFormat: the deployment formats `reidprune export --format` writes (ONNX today),
// parsed from the option's text with an error that lists the supported ones.

public enum ExportFormat: String, CaseIterable, Sendable {
    /// ONNX (opset 17), for ONNX Runtime, OpenVINO, TensorRT and others.
    case onnx

    /// The format `--format` names (case-insensitive), or an error naming the value.
    public init(option: String) throws {
        guard let f = ExportFormat(rawValue: option.lowercased()) else {
            throw ExportError("--format '\(option)' is not supported; supported: "
                              + ExportFormat.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = f
    }
}
