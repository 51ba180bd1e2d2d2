// RecipeCoder: one description of a recipe section serves both directions. A section
// (`RecipeSection`) names each of its keys once, with the property that holds it; the
// coder either reads the key from a ConfigFile, the property's current value being the
// default, or writes the property out as YAML. So defaults live in the property
// declarations and a typed configuration renders the recipe that reproduces it.
import Foundation
import Yams

/// A recipe section: `init()` gives its defaults; `code` names every key once.
protocol RecipeSection {
    init()
    /// Reads (current values are the defaults) or writes every key of the section,
    /// relative to the coder's prefix; checks the values read.
    mutating func code(_ k: inout RecipeCoder) throws
}

struct RecipeCoder {
    /// Reading: the recipe, which records the keys read. Nil when writing.
    private(set) var file: ConfigFile?
    /// Writing: (key steps, value) in the order written.
    private var written: [([String], Node)] = []
    /// The key of the section being coded ("" at the top level).
    private(set) var prefix = ""

    init(reading file: ConfigFile) { self.file = file }
    private init() {}

    var isReading: Bool { file != nil }
    var origin: String { file?.origin ?? "" }

    /// `k` below the current section.
    func key(_ k: String) -> String { prefix.isEmpty ? k : prefix + "." + k }
    func has(_ k: String) -> Bool { file?.has(key(k)) ?? false }
    /// Whether `k` holds a mapping (always, when writing).
    func isSection(_ k: String) -> Bool { file?.isSection(key(k)) ?? true }
    func fail(_ k: String, _ why: String) -> ConfigError {
        file?.fail(key(k), why) ?? ConfigError("\(origin): key '\(key(k))': \(why)")
    }

    /// Reading: fails naming the key unless `ok`. Writing: nothing to check.
    func check(_ ok: Bool, _ k: String, _ why: @autoclosure () -> String) throws {
        if isReading && !ok { throw fail(k, why()) }
    }

    /// Reading: fails naming the key unless `value` lies in `range` ("must be A to B, got V").
    func check(_ value: Int, in range: ClosedRange<Int>, _ k: String) throws {
        try check(range.contains(value), k, "must be \(range.lowerBound) to \(range.upperBound), got \(value)")
    }

    /// Reading: runs a type's own validation, its message prefixed with the recipe, or
    /// naming the override that set the key when a `KeyProblem` says which key it is.
    func validate(_ body: () throws -> Void) throws {
        guard isReading else { return }
        do { try body() } catch let p as KeyProblem {
            throw fail(p.key, p.why)
        } catch { throw ConfigError("\(origin): \(error)") }
    }

    /// Reading: `keys` are known to this section though it does not read them here (the
    /// alternatives of a setting it read instead, which a recipe may set to null).
    mutating func known(_ keys: [String]) {
        let full = keys.map(key)
        for k in full { file?.markUsed(k) }
    }

    /// Reading: fails naming the first key no section read; keys below `ignoring` are
    /// another command's business.
    func rejectUnknownKeys(ignoring section: String? = nil) throws {
        guard var f = file else { return }
        if let section { f.markUsed(prefix: section) }
        try f.rejectUnknownKeys()
    }

    // MARK: scalars and lists

    private mutating func code<T>(_ k: String, _ v: inout T, read: (inout ConfigFile, String, T) throws -> T,
                                  write: (T) -> Node) throws {
        let full = key(k)
        if file != nil {
            v = try read(&file!, full, v)
        } else {
            written.append((full.split(separator: ".").map(String.init), write(v)))
        }
    }

    static func text(_ s: String) -> Node { .scalar(s.represented()) }
    /// The shortest decimal that reads back as the same value.
    static func number(_ d: Double) -> Node { Node(d.description, Tag(.float)) }

    mutating func int(_ k: String, _ v: inout Int) throws {
        try code(k, &v, read: { try $0.int($1, $2) }, write: { Node(String($0), Tag(.int)) })
    }

    mutating func uint64(_ k: String, _ v: inout UInt64) throws {
        var i = Int(clamping: v)
        try int(k, &i)
        try check(i >= 0, k, "must not be negative, got \(i)")
        v = UInt64(max(i, 0))
    }

    mutating func double(_ k: String, _ v: inout Double) throws {
        try code(k, &v, read: { try $0.double($1, $2) }, write: { Self.number($0) })
    }

    mutating func float(_ k: String, _ v: inout Float) throws {
        try code(k, &v, read: { Float(try $0.double($1, Double($2))) }, write: { Self.number(Double($0.description)!) })
    }

    mutating func bool(_ k: String, _ v: inout Bool) throws {
        try code(k, &v, read: { try $0.bool($1, $2) }, write: { Node($0 ? "true" : "false", Tag(.bool)) })
    }

    mutating func string(_ k: String, _ v: inout String) throws {
        try code(k, &v, read: { try $0.string($1, $2) }, write: { Self.text($0) })
    }

    /// A key that may be absent: reading keeps the current value then (and reads over
    /// `start` when there is none); writing skips nil.
    mutating func optional<T>(_ k: String, _ v: inout T?, start: @autoclosure () -> T,
                              _ body: (inout Self, inout T) throws -> Void) throws {
        if isReading {
            let full = key(k)
            file!.markUsed(full)
            if !file!.has(full) { return }
        }
        guard var value = v ?? (isReading ? start() : nil) else { return }
        try body(&self, &value)
        v = value
    }

    mutating func optionalString(_ k: String, _ v: inout String?) throws {
        try optional(k, &v, start: "") { coder, s in try coder.string(k, &s) }
    }

    mutating func optionalInt(_ k: String, _ v: inout Int?) throws {
        try optional(k, &v, start: 0) { coder, i in try coder.int(k, &i) }
    }

    mutating func ints(_ k: String, _ v: inout [Int]) throws {
        try code(k, &v, read: { try $0.ints($1, $2) },
                 write: { Node($0.map { Node(String($0), Tag(.int)) }, .implicit, .flow) })
    }

    mutating func doubles(_ k: String, _ v: inout [Double]) throws {
        try code(k, &v, read: { try $0.doubles($1, $2) }, write: { Node($0.map(Self.number), .implicit, .flow) })
    }

    mutating func strings(_ k: String, _ v: inout [String]) throws {
        try code(k, &v, read: { try $0.strings($1, $2) }, write: { Node($0.map(Self.text), .implicit, .flow) })
    }

    /// One of the named `options`; the message lists them.
    mutating func choice<T: Equatable>(_ k: String, _ v: inout T, _ options: [(String, T)]) throws {
        var name = Self.name(of: v, in: options, k)
        try string(k, &name)
        v = try value(named: name, in: options, k)
    }

    /// One of a string enumeration's cases.
    mutating func choice<T: CaseIterable & RawRepresentable & Equatable>(_ k: String, _ v: inout T) throws
        where T.RawValue == String {
        try choice(k, &v, T.allCases.map { ($0.rawValue, $0) })
    }

    /// A list of named `options`.
    mutating func choices<T: Equatable>(_ k: String, _ v: inout [T], _ options: [(String, T)]) throws {
        var names = v.map { Self.name(of: $0, in: options, k) }
        try strings(k, &names)
        v = try names.map { try value(named: $0, in: options, k) }
    }

    private static func name<T: Equatable>(of v: T, in options: [(String, T)], _ k: String) -> String {
        guard let name = options.first(where: { $0.1 == v })?.0 else { preconditionFailure("\(k): a value without a name") }
        return name
    }

    private func value<T>(named name: String, in options: [(String, T)], _ k: String) throws -> T {
        guard let v = options.first(where: { $0.0 == name })?.1 else {
            throw fail(k, "'\(name)' is not one of \(options.map(\.0).joined(separator: ", "))")
        }
        return v
    }

    // MARK: sections

    /// The keys `body` codes lie below `k`.
    mutating func nested(_ k: String, _ body: (inout Self) throws -> Void) throws {
        let outer = prefix
        prefix = key(k)
        defer { prefix = outer }
        try body(&self)
    }

    mutating func section<S: RecipeSection>(_ k: String, _ v: inout S) throws {
        try nested(k) { try v.code(&$0) }
    }

    /// A section that may be absent (present, even empty, it starts from `S()`).
    mutating func section<S: RecipeSection>(_ k: String, _ v: inout S?) throws {
        try optional(k, &v, start: S()) { coder, s in try coder.section(k, &s) }
    }

    /// A list of sections, each read over `start` (for instance the recipe's own section).
    mutating func sections<S: RecipeSection>(_ k: String, _ v: inout [S], start: S, what: String) throws {
        guard isReading else {
            let items = v.map { item -> Node in
                var sub = RecipeCoder(), s = item
                do { try s.code(&sub) } catch { preconditionFailure("writing a recipe cannot fail: \(error)") }
                return sub.tree()
            }
            written.append((key(k).split(separator: ".").map(String.init), Node(items)))
            return
        }
        guard let n = file!.count(key(k)), n > 0, (0..<n).allSatisfy({ file!.isSection(key("\(k)[\($0)]")) }) else {
            throw fail(k, "expected a list of \(what)")
        }
        v = try (0..<n).map { i in
            var s = start
            try section("\(k)[\(i)]", &s)
            return s
        }
    }

    // MARK: YAML

    /// The YAML recipe `value` reads back from.
    static func yaml<S: RecipeSection>(of value: S) -> String {
        var coder = RecipeCoder(), v = value
        do { try v.code(&coder) } catch { preconditionFailure("writing a recipe cannot fail: \(error)") }
        do { return try Yams.serialize(node: coder.tree()) } catch { preconditionFailure("YAML output: \(error)") }
    }

    /// The written keys as nested mappings, in the order they were first written.
    private func tree() -> Node { Self.nest(written[...]) }

    private static func nest(_ items: ArraySlice<([String], Node)>) -> Node {
        var order: [String] = [], leaves: [String: Node] = [:], below: [String: [([String], Node)]] = [:]
        for (steps, node) in items {
            let head = steps[0]
            if leaves[head] == nil && below[head] == nil { order.append(head) }
            if steps.count == 1 { leaves[head] = node } else { below[head, default: []].append((Array(steps.dropFirst()), node)) }
        }
        return Node(order.map { (text($0), leaves[$0] ?? nest(below[$0]![...])) })
    }
}
