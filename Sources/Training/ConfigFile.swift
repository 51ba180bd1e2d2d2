// ConfigFile: YAML experiment recipes as a tree of values: a file may name a `base:`
// recipe (a path relative to itself) whose keys it overrides, and the command line may
// override any key with `section.key=value`. Keys are dotted paths, with `[i]` for an
// item of a list (`scenario.targets[1].root`). Typed readers name the file and the key
// of anything malformed or unknown; recipe sections read themselves through them. A key
// set to null (`~`) is removed, with what a base gave it: its default applies, and an
// optional section (`data.synth`) is off.
import CYaml
import Foundation
import Yams

public struct ConfigFile {
    /// The merged tree.
    public private(set) var root: [String: Any]
    /// Where the values came from (the file and its bases), for messages.
    public let origin: String
    private var used = Set<String>()
    /// Command-line overrides by key (`train.lr` -> `train.lr=0.1`): messages about
    /// those keys blame the override, not the file.
    private var overridden: [String: String] = [:]
    /// Keys set to null (and so removed): a typo among them is still an unknown key.
    private var cleared = Set<String>()

    public init(root: [String: Any], origin: String) {
        self.root = root
        self.origin = origin
    }

    /// Loads `path`, its `base:` chain and the overrides (`a.b=value`, YAML-typed).
    public static func load(_ path: String, overrides: [String] = []) throws -> ConfigFile {
        var chain: [String] = []
        var tree = try loadTree(path, chain: &chain)
        var overridden: [String: String] = [:]
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw ConfigError("override '\(o)': expected key=value, for example train.lr=0.01")
            }
            let key = String(o[..<eq]), text = String(o[o.index(after: eq)...])
            overridden[key] = o
            var value: Any = try parse(text, what: "override '\(o)'") ?? ""
            // A mapping given for a section sets those keys and keeps the section's others,
            // as a recipe's `base:` does.
            if let mapping = value as? [String: Any], var section = rawValue(tree, key) as? [String: Any] {
                merge(&section, mapping)
                value = section
            }
            if !(value is [String: Any]), !(value is NSNull), let section = rawValue(tree, key) as? [String: Any], !section.isEmpty {
                let some = section.keys.sorted().prefix(3).map { key + "." + $0 }.joined(separator: ", ")
                throw ConfigError("override '\(o)': '\(key)' is a section (\(some), ...); override a key inside it, "
                                  + "as \(key).KEY=VALUE")
            }
            guard let updated = try set(tree, steps(key)[...], value: value, override: o) as? [String: Any] else {
                throw ConfigError("override '\(o)': expected a key")
            }
            tree = updated
        }
        var cleared = Set<String>()
        tree = removingNulls(tree, key: "", cleared: &cleared) as! [String: Any]
        var file = ConfigFile(root: tree, origin: chain.joined(separator: " <- "))
        file.overridden = overridden
        file.cleared = cleared
        return file
    }

    /// A YAML syntax error in one line: where, and what (Yams's text adds the line and a caret).
    static func summary(_ error: YamlError) -> String {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let while_ = context.map { ", \($0.text) at line \($0.mark.line)" } ?? ""
            return "line \(mark.line), column \(mark.column): \(problem)\(while_)"
        case let .reader(problem, offset, _, _):
            return offset.map { "byte \($0): \(problem)" } ?? problem
        default:
            return "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
        }
    }

    static func loadTree(_ path: String, chain: inout [String]) throws -> [String: Any] {
        guard !chain.contains(path) else { throw ConfigError("\(path): base recipes form a cycle: \(chain)") }
        chain.append(path)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError("\(path): cannot read the config file")
        }
        let parsed = try parse(text, what: path)
        guard var tree = (parsed ?? [String: Any]()) as? [String: Any] else {
            throw ConfigError("\(path): the top level must be a mapping of sections")
        }
        if let base = tree.removeValue(forKey: "base") {
            guard let rel = base as? String else { throw ConfigError("\(path): base: must be a path") }
            let basePath = rel.hasPrefix("/") ? rel : (URL(fileURLWithPath: path).deletingLastPathComponent().path + "/" + rel)
            guard FileManager.default.isReadableFile(atPath: basePath) else {
                throw ConfigError("\(path): base: cannot read the recipe it names, '\(basePath)'")
            }
            var merged = try loadTree(basePath, chain: &chain)
            merge(&merged, tree)
            return merged
        }
        return tree
    }

    /// `node` without its mappings' null values (in lists of mappings too); their keys go
    /// to `cleared`.
    static func removingNulls(_ node: Any, key: String, cleared: inout Set<String>) -> Any {
        if let mapping = node as? [String: Any] {
            var kept: [String: Any] = [:]
            for (k, v) in mapping {
                let full = key.isEmpty ? k : key + "." + k
                if v is NSNull { cleared.insert(full) } else { kept[k] = removingNulls(v, key: full, cleared: &cleared) }
            }
            return kept
        }
        if let list = node as? [Any], list.allSatisfy({ $0 is [String: Any] }) {
            return list.enumerated().map { removingNulls($1, key: key + "[\($0)]", cleared: &cleared) }
        }
        return node
    }

    static func merge(_ base: inout [String: Any], _ over: [String: Any]) {
        for (k, v) in over {
            if let sub = v as? [String: Any], var existing = base[k] as? [String: Any] {
                merge(&existing, sub)
                base[k] = existing
            } else {
                base[k] = v
            }
        }
    }

    /// One step of a key: a mapping key, or the index of a list item.
    enum KeyStep: Equatable {
        case key(String)
        case index(Int)
    }

    /// `a.b[1].c` -> key a, key b, index 1, key c (a part that is not `name[i]...` is a key).
    static func steps(_ key: String) -> [KeyStep] {
        key.split(separator: ".").flatMap { part -> [KeyStep] in
            let pieces = part.split(separator: "[", omittingEmptySubsequences: false)
            let indices = pieces.dropFirst().map { $0.hasSuffix("]") ? Int($0.dropLast()) : nil }
            guard pieces.count > 1, !pieces[0].isEmpty, indices.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                return [.key(String(part))]
            }
            return [.key(String(pieces[0]))] + indices.map { .index($0!) }
        }
    }

    /// `node` with `value` placed at `steps`: missing or scalar mappings on the way are
    /// created; a list index must name an existing item.
    static func set(_ node: Any?, _ steps: ArraySlice<KeyStep>, value: Any, override: String) throws -> Any {
        guard let step = steps.first else { return value }
        switch step {
        case let .key(k):
            var mapping = node as? [String: Any] ?? [:]
            mapping[k] = try set(mapping[k], steps.dropFirst(), value: value, override: override)
            return mapping
        case let .index(i):
            guard var list = node as? [Any], list.indices.contains(i) else {
                throw ConfigError("override '\(override)': there is no item [\(i)] to set")
            }
            list[i] = try set(list[i], steps.dropFirst(), value: value, override: override)
            return list
        }
    }

    // MARK: typed access

    func raw(_ key: String) -> Any? { ConfigFile.rawValue(root, key) }

    static func rawValue(_ root: [String: Any], _ key: String) -> Any? {
        var node: Any? = root
        for step in ConfigFile.steps(key) {
            switch step {
            case let .key(k): node = (node as? [String: Any])?[k]
            case let .index(i): node = (node as? [Any]).flatMap { $0.indices.contains(i) ? $0[i] : nil }
            }
        }
        return node
    }

    /// The number of items of the list at `key` (nil when it is not a list).
    public func count(_ key: String) -> Int? { (raw(key) as? [Any])?.count }

    /// Whether `key` holds a mapping (a section).
    public func isSection(_ key: String) -> Bool { raw(key) is [String: Any] }

    public func has(_ key: String) -> Bool { raw(key) != nil }

    func fail(_ key: String, _ why: String) -> ConfigError {
        if let o = overridden[key] { return ConfigError("override '\(o)': \(why)") }
        return ConfigError("\(origin): key '\(key)': \(why)")
    }

    /// The most values a recipe may hold once its aliases are expanded (a recipe holds a
    /// few hundred; aliases of aliases can expand a small file past any memory).
    static let maxValues = 100_000
    /// The deepest nesting a recipe may have (the YAML reader recurses once per level).
    static let maxNesting = 200

    /// Why `text` nests too deeply for the YAML reader (which builds its tree recursively),
    /// or nil: sequences and mappings inside one another, counted from libyaml's events,
    /// which its parser produces without recursion. A syntax error is left to the reader.
    static func nestingProblem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return "the YAML parser could not start" }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeBufferPointer { input -> String? in
            yaml_parser_set_input_string(&parser, input.baseAddress, input.count)
            var depth = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    depth += 1
                    if depth > maxNesting { return "line \(event.start_mark.line + 1) nests more than \(maxNesting) levels" }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    depth -= 1
                case YAML_STREAM_END_EVENT:
                    return nil
                default:
                    break
                }
            }
        }
    }

    /// `text` read as YAML within bounds: nesting the reader can recurse through, at most
    /// `maxValues` values once aliases are expanded, and no key twice in a mapping. Errors
    /// start with `what` (a file's path, an override, a checkpoint's saved recipe).
    static func parse(_ text: String, what: String) throws -> Any? {
        if let problem = nestingProblem(text) { throw ConfigError("\(what): malformed YAML: \(problem)") }
        do {
            guard let node = try Yams.compose(yaml: text) else { return nil }
            var budget = maxValues
            try rejectDuplicateKeys(node, path: what, key: "", depth: 0, budget: &budget)
            return Constructor.default.any(from: node)
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw ConfigError("\(what): malformed YAML: \(Self.summary(error))")
        } catch {
            throw ConfigError("\(what): malformed YAML: \(error)")
        }
    }

    /// YAML allows a key twice in a mapping and keeps the last; a recipe that does so has
    /// lost the first one's keys, so it is an error naming the line. Counts the values it
    /// walks against `budget`, aliases expanded.
    static func rejectDuplicateKeys(_ node: Node, path: String, key: String, depth: Int, budget: inout Int) throws {
        budget -= 1
        guard budget >= 0 else {
            throw ConfigError("\(path): holds more than \(maxValues) values once its aliases are expanded; a recipe is far smaller")
        }
        // Aliases inside aliased collections nest deeper than the text does.
        guard depth <= maxNesting else {
            throw ConfigError("\(path): malformed YAML: nests more than \(maxNesting) levels once its aliases are expanded")
        }
        if let mapping = node.mapping {
            var seen = Set<String>()
            for (k, v) in mapping {
                let name = k.string ?? "\(k)"
                let full = key.isEmpty ? name : key + "." + name
                guard seen.insert(name).inserted else {
                    throw ConfigError("\(path): line \((k.mark?.line).map(String.init) ?? "?"): key '\(full)' appears twice "
                                      + "(YAML would keep only the last); merge the two")
                }
                try rejectDuplicateKeys(v, path: path, key: full, depth: depth + 1, budget: &budget)
            }
        } else if let sequence = node.sequence {
            for (i, item) in sequence.enumerated() {
                try rejectDuplicateKeys(item, path: path, key: key + "[\(i)]", depth: depth + 1, budget: &budget)
            }
        }
    }

    public mutating func string(_ key: String, _ def: String? = nil) throws -> String {
        used.insert(key)
        guard let v = raw(key) else {
            if let def { return def }
            throw fail(key, "missing")
        }
        if let s = v as? String { return s }
        if let i = v as? Int { return String(i) }
        if let d = v as? Double { return String(d) }
        throw fail(key, "expected a string, got \(Self.shown(v))")
    }

    public mutating func optionalString(_ key: String) throws -> String? {
        has(key) ? try string(key) : { used.insert(key); return nil }()
    }

    public mutating func int(_ key: String, _ def: Int? = nil) throws -> Int {
        used.insert(key)
        guard let v = raw(key) else {
            if let def { return def }
            throw fail(key, "missing")
        }
        if let i = v as? Int { return i }
        if let d = v as? Double, let i = Int(exactly: d) { return i }
        // Digits beyond Int's range (YAML reads them as text) or a whole float beyond it.
        let digits = (v as? String).flatMap { $0.range(of: "^[-+]?[0-9]+$", options: .regularExpression) != nil && Int($0) == nil
                                                ? $0 : nil }
        if let big = digits ?? (v as? Double).flatMap({ $0.isFinite && $0.rounded() == $0 ? String(format: "%.0f", $0) : nil }) {
            throw fail(key, "expected an integer from \(Int.min) to \(Int.max), got \(big)")
        }
        throw fail(key, "expected an integer, got \(Self.shown(v))")
    }

    public mutating func double(_ key: String, _ def: Double? = nil) throws -> Double {
        used.insert(key)
        guard let v = raw(key) else {
            if let def { return def }
            throw fail(key, "missing")
        }
        // No setting takes NaN or infinity; refusing them here names the key.
        if let d = v as? Double, d.isFinite { return d }
        if let i = v as? Int { return Double(i) }
        throw fail(key, "expected a finite number, got \(Self.shown(v))")
    }

    public mutating func bool(_ key: String, _ def: Bool? = nil) throws -> Bool {
        used.insert(key)
        guard let v = raw(key) else {
            if let def { return def }
            throw fail(key, "missing")
        }
        if let b = v as? Bool { return b }
        throw fail(key, "expected true or false, got \(Self.shown(v))")
    }

    public mutating func ints(_ key: String, _ def: [Int]) throws -> [Int] {
        used.insert(key)
        guard let v = raw(key) else { return def }
        if let a = v as? [Int] { return a }
        if let i = v as? Int { return [i] }
        throw fail(key, "expected a list of integers, got \(v)")
    }

    public mutating func doubles(_ key: String, _ def: [Double]) throws -> [Double] {
        used.insert(key)
        guard let v = raw(key) else { return def }
        if let a = v as? [Any] {
            return try a.map { x in
                if let d = x as? Double, d.isFinite { return d }
                if let i = x as? Int { return Double(i) }
                throw fail(key, "expected a list of finite numbers, got \(v)")
            }
        }
        throw fail(key, "expected a list of numbers, got \(v)")
    }

    public mutating func strings(_ key: String, _ def: [String]) throws -> [String] {
        used.insert(key)
        guard let v = raw(key) else { return def }
        if let a = v as? [String] { return a }
        if let s = v as? String { return [s] }
        throw fail(key, "expected a list of strings, got \(v)")
    }

    /// One of `choices`; the message lists them.
    public mutating func choice<T>(_ key: String, _ def: String, _ choices: [String: T]) throws -> T {
        let s = try string(key, def)
        guard let v = choices[s] else {
            throw fail(key, "'\(s)' is not one of \(choices.keys.sorted().joined(separator: ", "))")
        }
        return v
    }

    /// Marks `key` as read (a section that is present, even when empty).
    public mutating func markUsed(_ key: String) { used.insert(key) }

    /// Marks every key below `prefix` as used (a section read by another component).
    public mutating func markUsed(prefix: String) {
        for k in leafKeys() where k.hasPrefix(prefix) { used.insert(k) }
    }

    /// A value as an error shows it: text in quotes (noting when YAML would have read it
    /// as a number or true/false without its quotes), a mapping or list as such.
    static func shown(_ v: Any) -> String {
        if let s = v as? String {
            let unquoted = try? parse(s, what: "")
            return unquoted != nil && !(unquoted is String) ? "\"\(s)\" (quoted, so text)" : "\"\(s)\""
        }
        if v is [String: Any] { return "a mapping" }
        if v is [Any] { return "a list" }
        return "\(v)"
    }

    /// Fails naming the first key nobody read (a typo, or a key of another version).
    public func rejectUnknownKeys() throws {
        // A key set to null is known when a section asked for it (or for a key below it).
        let unknownCleared = cleared.filter { k in !used.contains(k) && !used.contains { $0.hasPrefix(k + ".") } }
        let unknown = (leafKeys().filter { !used.contains($0) } + unknownCleared).sorted()
        // A section given a single value (`model: resnet18`): its keys were read below it.
        if let section = unknown.first(where: { k in used.contains { $0.hasPrefix(k + ".") } }) {
            throw fail(section, "is a section: expected a mapping of its keys (such as \(section): {...}), got "
                       + Self.shown(raw(section) ?? ""))
        }
        if let first = unknown.first {
            let more = unknown.count > 1 ? " (and \(unknown.count - 1) more: " + unknown.dropFirst().prefix(5).joined(separator: ", ") + ")" : ""
            // A key an override brought is the override's (itself, or a key of the mapping it gave).
            if let o = overridden.first(where: { first == $0.key || first.hasPrefix($0.key + ".") })?.value {
                throw ConfigError("override '\(o)': unknown key '\(first)'\(more)")
            }
            throw ConfigError("\(origin): unknown key '\(first)'\(more)")
        }
    }

    /// Every leaf's key with its value as text (lists as YAML's flow form would show them).
    public func leafValues() -> [String: String] {
        Dictionary(uniqueKeysWithValues: leafKeys().map { key in (key, raw(key).map { "\($0)" } ?? "") })
    }

    /// Every leaf's key: below mappings and lists of mappings (`scenario.targets[0].root`).
    private func leafKeys() -> [String] { root.flatMap { ConfigFile.leafKeys($1, $0) } }

    private static func leafKeys(_ node: Any, _ key: String) -> [String] {
        if let mapping = node as? [String: Any], !mapping.isEmpty {
            return mapping.flatMap { leafKeys($1, key + "." + $0) }
        }
        if let list = node as? [Any], !list.isEmpty, list.allSatisfy({ $0 is [String: Any] }) {
            return list.enumerated().flatMap { leafKeys($1, key + "[\($0)]") }
        }
        return [key]
    }
}
