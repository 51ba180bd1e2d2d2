// ExportError: what can go wrong when exporting a model for deployment (an unknown
// format, an input size the network cannot take, an output that cannot be written),
// as one line that names the option, value or file.

public struct ExportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
