// Communicator: what ranks exchange during data-parallel training, independent of the
// transport: allreduce (of floats, doubles, or bfloat16 gradients), reduce to the root,
// broadcast, gather and allgather of bytes, barrier, and non-blocking allreduces for
// overlapping communication with backward.
// The typed vocabulary built on these (Codable broadcast, onRoot, gathers) is in
// Communicator+Coordination.swift.
// Implemented by LocalCommunicator (one rank), ThreadCommunicator (ranks as threads, for
// tests) and the Open MPI communicator in DistributedMPI.

public enum ReduceOp: Sendable {
    case sum
    /// The sum divided by the number of ranks.
    case average
    case max
}

public struct CommunicationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// A non-blocking collective in flight.
public protocol PendingCollective: AnyObject {
    /// Lets the transport make progress; true once the result is in place.
    func test() throws -> Bool
    /// Waits for completion.
    func wait() throws
}

public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// The rank among the ranks on this node.
    var localRank: Int { get }
    /// The collective watchdog's timeout and the phase the ranks are in (see CollectiveWatch).
    var watch: CollectiveWatch { get set }
    /// The message of the error the last `onRoot` delivered to every rank (nil: it
    /// succeeded): a failure every rank reached together, which the command line reports
    /// once instead of once per rank.
    var agreedFailure: String? { get set }

    /// - Important: Collective — every rank calls this, in the same order.
    func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws
    /// - Important: Collective — every rank calls this, in the same order.
    func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, op: ReduceOp) throws
    /// Starts an in-place allreduce; the buffer must stay untouched until it completes.
    /// - Important: Collective — every rank calls this, in the same order.
    func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws -> PendingCollective
    /// Sums `count` bfloat16 values (bit patterns) over all ranks in place, every partial
    /// sum rounded to bfloat16 (`BFloat16Sum`): half the bytes of a float allreduce.
    /// - Important: Collective — every rank calls this, in the same order.
    func allreduceBF16(_ buffer: UnsafeMutablePointer<UInt16>, count: Int) throws
    /// `allreduceBF16` started non-blocking; the buffer must stay untouched until it completes.
    /// - Important: Collective — every rank calls this, in the same order.
    func startAllreduceBF16(_ buffer: UnsafeMutablePointer<UInt16>, count: Int) throws -> PendingCollective
    /// In place at the root; other ranks' buffers are left as they were.
    /// - Important: Collective — every rank calls this, in the same order.
    func reduceToRoot(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws
    /// - Important: Collective — every rank calls this, in the same order.
    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws
    /// Every rank ends with the root's bytes (their length need not be known in advance).
    /// - Important: Collective — every rank calls this, in the same order.
    func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8]
    /// Every rank's bytes, in rank order, on every rank.
    /// - Important: Collective — every rank calls this, in the same order.
    func allgather(_ bytes: [UInt8]) throws -> [[UInt8]]
    /// Every rank's bytes at the root (nil elsewhere).
    /// - Important: Collective — every rank calls this, in the same order.
    func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]?
    /// - Important: Collective — every rank calls this, in the same order.
    func barrier() throws
}

/// An error that every rank raises at the same point with the same message, decided from
/// values the ranks hold identically (a loss or gradient norm after the allreduce, the
/// replicated parameters): a failure every rank reached together without communicating,
/// reported once as `agreedFailure`'s are.
public protocol SameOnEveryRank: Error {}

/// A world of one: every collective is the identity.
public final class LocalCommunicator: Communicator {
    public init() {}
    public var watch = CollectiveWatch()
    public var agreedFailure: String?
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localRank: Int { 0 }

    final class Done: PendingCollective {
        func test() throws -> Bool { true }
        func wait() throws {}
    }

    public func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {}
    public func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, op: ReduceOp) throws {}
    public func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws -> PendingCollective {
        Done()
    }
    public func allreduceBF16(_ buffer: UnsafeMutablePointer<UInt16>, count: Int) throws {}
    public func startAllreduceBF16(_ buffer: UnsafeMutablePointer<UInt16>, count: Int) throws -> PendingCollective { Done() }
    public func reduceToRoot(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {}
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] { bytes }
    public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? { [bytes] }
    public func barrier() throws {}
}
