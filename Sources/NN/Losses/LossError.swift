// LossError: why a loss could not be computed on a batch: values that are not finite
// (NaN or infinite features or distances, which would make mining compare nothing), or a
// batch that cannot form the loss's terms (one identity only, a single sample). Losses
// throw it instead of stopping the process; the trainer decides what a step does then.

public struct LossError: Error, CustomStringConvertible {
    public enum Kind: Sendable {
        /// NaN or infinite inputs or intermediate values.
        case nonFinite
        /// The batch cannot form the loss (too few samples or identities).
        case invalidBatch
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        description = message
    }
}
