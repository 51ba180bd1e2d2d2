// Communicator+Coordination: the vocabulary for "the root decides, every rank learns":
// a typed broadcast of any Codable value, `onRoot` (a throwing closure runs on the root
// and its value or its error reaches every rank, so that every rank throws the same
// error), `onEveryRank` (a closure runs on every rank and the first rank's error reaches
// every rank), and gathers of arrays and Codable values.
import Foundation

/// The root's error as another rank receives it: the same message.
public struct RootError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// What `onRoot` sends: the root's value, or the message of its error.
private struct RootOutcome<Value: Codable>: Codable {
    var value: Value?
    var failure: String?
}

/// The empty value `onRoot` delivers for closures that return nothing.
private struct Nothing: Codable {}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Every rank ends with the root's value (the others' `value` is ignored).
    /// - Important: Collective — every rank calls this, in the same order.
    public func broadcast<Value: Codable>(_ value: Value, root: Int = 0) throws -> Value {
        guard size > 1 else { return value }
        let bytes = rank == root ? Array(try JSONEncoder().encode([value])) : []
        let received = try broadcast(bytes, root: root)
        do {
            return try JSONDecoder().decode([Value].self, from: Data(received))[0]
        } catch {
            throw CommunicationError("rank \(rank): undecodable \(Value.self) from rank \(root): \(error)")
        }
    }

    /// Runs `body` on the root only; every rank returns the root's value, or throws the
    /// root's error (the root rethrows it as it was; the others throw a `RootError` with
    /// the same message), so no rank waits for a root that failed.
    /// - Important: Collective — every rank calls this, in the same order.
    public func onRoot<Value: Codable>(_ body: () throws -> Value) throws -> Value {
        var outcome = RootOutcome<Value>()
        var rootError: Error?
        if isRoot {
            do { outcome.value = try body() } catch {
                rootError = error
                outcome.failure = "\(error)"
            }
        }
        outcome = try broadcast(outcome)
        agreedFailure = outcome.failure
        if let rootError { throw rootError }
        if let failure = outcome.failure { throw RootError(failure) }
        guard let value = outcome.value else { throw CommunicationError("rank \(rank): the root sent no value") }
        return value
    }

    /// `onRoot` for work that returns nothing: every rank learns whether the root succeeded.
    /// - Important: Collective — every rank calls this, in the same order.
    public func onRoot(_ body: () throws -> Void) throws {
        let _: Nothing = try onRoot { try body(); return Nothing() }
    }

    /// Runs `body` on every rank; if it fails on any, every rank throws the error of the
    /// lowest such rank (its message prefixed with "rank r: " unless every rank failed with
    /// the same message),
    /// and the failure counts as agreed, as `onRoot`'s does: it is reported once. A rank
    /// whose `body` succeeded while another's failed hands its value to `discard`.
    /// - Important: Collective — every rank calls this, in the same order.
    public func onEveryRank<Value>(_ body: () throws -> Value, discard: (Value) -> Void = { _ in }) throws -> Value {
        var value: Value?, failure: Error?
        do { value = try body() } catch { failure = error }
        // A failure is "!" and its message (which may be empty); a success sends nothing.
        let sent = try allgather(Array((failure.map { "!\($0)" } ?? "").utf8)).map { String(decoding: $0, as: UTF8.self) }
        let failures = sent.map { String($0.dropFirst()) }
        guard let first = sent.indices.first(where: { !sent[$0].isEmpty }) else {
            agreedFailure = nil
            return value!
        }
        if let value { discard(value) }
        if size == 1, let failure { throw failure }
        // The same error on every rank is everybody's: it needs no rank.
        let message = sent.allSatisfy { $0 == sent[first] } ? failures[first] : "rank \(first): \(failures[first])"
        agreedFailure = message
        throw RootError(message)
    }

    /// Every rank's value, in rank order, at the root (nil elsewhere).
    /// - Important: Collective — every rank calls this, in the same order.
    public func gather<Value: Codable>(_ value: Value, root: Int = 0) throws -> [Value]? {
        try gather(Array(try JSONEncoder().encode([value])), root: root).map { parts in
            try parts.map { try JSONDecoder().decode([Value].self, from: Data($0))[0] }
        }
    }

    /// Every rank's Float array, in rank order, at the root (nil elsewhere).
    /// - Important: Collective — every rank calls this, in the same order.
    public func gather(floats: [Float], root: Int = 0) throws -> [[Float]]? {
        try gather(floats.withUnsafeBytes { Array($0) }, root: root).map { $0.map(Self.floats) }
    }

    /// Every rank's Int array, in rank order, at the root (nil elsewhere).
    /// - Important: Collective — every rank calls this, in the same order.
    public func gather(ints: [Int], root: Int = 0) throws -> [[Int]]? {
        try gather(ints.map(Int64.init).withUnsafeBytes { Array($0) }, root: root).map { $0.map(Self.ints) }
    }

    /// Every rank's Float array, in rank order, on every rank.
    /// - Important: Collective — every rank calls this, in the same order.
    public func allgather(floats: [Float]) throws -> [[Float]] {
        try allgather(floats.withUnsafeBytes { Array($0) }).map(Self.floats)
    }

    /// Every rank's Int array, in rank order, on every rank.
    /// - Important: Collective — every rank calls this, in the same order.
    public func allgather(ints: [Int]) throws -> [[Int]] {
        try allgather(ints.map(Int64.init).withUnsafeBytes { Array($0) }).map(Self.ints)
    }

    private static func floats(_ bytes: [UInt8]) -> [Float] {
        bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    private static func ints(_ bytes: [UInt8]) -> [Int] {
        bytes.withUnsafeBytes { $0.bindMemory(to: Int64.self).map(Int.init) }
    }
}
