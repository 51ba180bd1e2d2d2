// ShardPattern: names of WebDataset shards: brace patterns (`train-{000000..000127}.tar`,
// as webdataset and braceexpand write them) expanded to file names, and the shards of a
// split found in a folder.
import Foundation

public enum ShardPattern {
    /// Whether `text` holds a `{a..b}` range.
    public static func isPattern(_ text: String) -> Bool {
        text.contains("{") && text.contains("..") && text.contains("}")
    }

    /// Expands every `{a..b}` range (zero-padded to the width of `a`) and `{x,y}` list.
    public static func expand(_ pattern: String) throws -> [String] {
        guard let open = pattern.firstIndex(of: "{") else { return [pattern] }
        guard let close = pattern[open...].firstIndex(of: "}") else {
            throw DatasetError("\(pattern): unbalanced brace in shard pattern")
        }
        let head = String(pattern[..<open]), body = String(pattern[pattern.index(after: open)..<close])
        let tail = try expand(String(pattern[pattern.index(after: close)...]))
        var items: [String]
        if let range = body.range(of: "..") {
            let a = String(body[..<range.lowerBound]), b = String(body[range.upperBound...])
            guard let lo = Int(a), let hi = Int(b), lo <= hi, hi - lo < 10_000_000 else {
                throw DatasetError("\(pattern): bad range {\(body)} in shard pattern (expected {000000..000127})")
            }
            let width = a.count
            items = (lo...hi).map { v in
                let s = String(v)
                return String(repeating: "0", count: max(0, width - s.count)) + s
            }
        } else {
            items = body.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        return items.flatMap { i in tail.map { head + i + $0 } }
    }

    /// The sorted `<split>-*.tar` (and `.tar.gz`) files of `dir`.
    static func files(in dir: String, split: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasPrefix(split + "-") && ($0.hasSuffix(".tar") || $0.hasSuffix(".tar.gz")) }
            .sorted().map { dir + "/" + $0 }
    }
}
