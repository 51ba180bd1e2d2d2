// ConfigFile: YAML experiment recipes as a tree of values: a file may name a `base:`
// recipe (a path relative to itself) whose keys it overrides, and the command line may
// override any key with `section.key=value`. Typed readers name the file and the key of
// anything malformed or unknown.
import Foundation
import Yams

public struct ConfigFile {
    /// The merged tree.
    public private(set) var root: [String: Any]
    /// Where the values came from (the file and its bases), for messages.
    public let origin: String
    private var used = Set<String>()

    public init(root: [String: Any], origin: String) {
        self.root = root
        self.origin = origin
    }

    /// Loads `path`, its `base:` chain and the overrides (`a.b=value`, YAML-typed).
    public static func load(_ path: String, overrides: [String] = []) throws -> ConfigFile {
        var chain: [String] = []
        var tree = try loadTree(path, chain: &chain)
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw ConfigError("override '\(o)': expected key=value, for example train.lr=0.01")
            }
            let key = String(o[..<eq]), text = String(o[o.index(after: eq)...])
            let value: Any
            do {
                value = try Yams.load(yaml: text) ?? ""
            } catch {
                throw ConfigError("override '\(o)': the value is not valid YAML")
            }
            set(&tree, path: key.split(separator: ".").map(String.init), value: value)
        }
        return ConfigFile(root: tree, origin: chain.joined(separator: " <- "))
    }

    static func loadTree(_ path: String, chain: inout [String]) throws -> [String: Any] {
        guard !chain.contains(path) else { throw ConfigError("\(path): base recipes form a cycle: \(chain)") }
        chain.append(path)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError("\(path): cannot read the config file")
        }
        let parsed: Any?
        do {
            parsed = try Yams.load(yaml: text)
        } catch {
            throw ConfigError("\(path): malformed YAML: \(error)")
        }
        guard var tree = (parsed ?? [String: Any]()) as? [String: Any] else {
            throw ConfigError("\(path): the top level must be a mapping of sections")
        }
        if let base = tree.removeValue(forKey: "base") {
            guard let rel = base as? String else { throw ConfigError("\(path): base: must be a path") }
            let basePath = rel.hasPrefix("/") ? rel : (URL(fileURLWithPath: path).deletingLastPathComponent().path + "/" + rel)
            var merged = try loadTree(basePath, chain: &chain)
            merge(&merged, tree)
            return merged
        }
        return tree
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

    static func set(_ tree: inout [String: Any], path: [String], value: Any) {
        guard let first = path.first else { return }
        if path.count == 1 {
            tree[first] = value
            return
        }
        var sub = tree[first] as? [String: Any] ?? [:]
        set(&sub, path: Array(path.dropFirst()), value: value)
        tree[first] = sub
    }

    /// The same recipe with `tree` merged over it (sections and keys replaced).
    public func merging(_ tree: [String: Any], origin suffix: String) -> ConfigFile {
        var r = root
        ConfigFile.merge(&r, tree)
        return ConfigFile(root: r, origin: origin + " + " + suffix)
    }

    /// The raw subtree at `key` (nil when absent).
    public func subtree(_ key: String) -> Any? { raw(key) }

    // MARK: typed access

    func raw(_ key: String) -> Any? {
        var node: Any? = root
        for part in key.split(separator: ".") { node = (node as? [String: Any])?[String(part)] }
        return node
    }

    public func has(_ key: String) -> Bool { raw(key) != nil }

    func fail(_ key: String, _ why: String) -> ConfigError { ConfigError("\(origin): key '\(key)': \(why)") }

    public mutating func string(_ key: String, _ def: String? = nil) throws -> String {
        used.insert(key)
        guard let v = raw(key) else {
            if let def { return def }
            throw fail(key, "missing")
        }
        if let s = v as? String { return s }
        if let i = v as? Int { return String(i) }
        if let d = v as? Double { return String(d) }
        throw fail(key, "expected a string, got \(v)")
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
        if let d = v as? Double, d == d.rounded() { return Int(d) }
        throw fail(key, "expected an integer, got \(v)")
    }

    public mutating func double(_ key: String, _ def: Double? = nil) throws -> Double {
        used.insert(key)
        guard let v = raw(key) else {
            if let def { return def }
            throw fail(key, "missing")
        }
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        throw fail(key, "expected a number, got \(v)")
    }

    public mutating func bool(_ key: String, _ def: Bool? = nil) throws -> Bool {
        used.insert(key)
        guard let v = raw(key) else {
            if let def { return def }
            throw fail(key, "missing")
        }
        if let b = v as? Bool { return b }
        throw fail(key, "expected true or false, got \(v)")
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
                if let d = x as? Double { return d }
                if let i = x as? Int { return Double(i) }
                throw fail(key, "expected a list of numbers, got \(v)")
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

    /// Marks every key below `prefix` as used (a section read by another component).
    public mutating func markUsed(prefix: String) {
        for k in leafKeys(root, "") where k.hasPrefix(prefix) { used.insert(k) }
    }

    /// Fails naming the first key nobody read (a typo, or a key of another version).
    public func rejectUnknownKeys() throws {
        let unknown = leafKeys(root, "").filter { !used.contains($0) }.sorted()
        if let first = unknown.first {
            throw ConfigError("\(origin): unknown key '\(first)'" + (unknown.count > 1 ? " (and \(unknown.count - 1) more: "
                + unknown.dropFirst().prefix(5).joined(separator: ", ") + ")" : ""))
        }
    }

    private func leafKeys(_ node: [String: Any], _ prefix: String) -> [String] {
        node.flatMap { k, v -> [String] in
            let key = prefix.isEmpty ? k : prefix + "." + k
            if let sub = v as? [String: Any], !sub.isEmpty { return leafKeys(sub, key) }
            return [key]
        }
    }

    /// The merged tree as YAML (saved in the run folder).
    public func yaml() -> String { (try? Yams.dump(object: root)) ?? "" }
}
