// ShardIndex: the two JSON files beside the shards: classes.json (class index -> name,
// `{"0": "n01440764", ...}`) and shards.json (each shard's sample count, in the shape of
// webdataset's shard index: `{"train": [{"url": "train-000000.tar", "nsamples": 1000}]}`),
// which lets every rank plan an epoch without reading the shards.
import Foundation
import Tensors

public enum ShardIndex {
    public static let classesFile = "classes.json"
    public static let indexFile = "shards.json"

    /// Class names by index from classes.json: an object `{"0": name, ...}` (keys 0..<C) or a list.
    public static func readClasses(_ path: String) throws -> [String] {
        if let problem = FileProblem.reading(path) { throw DatasetError("\(path): cannot read: \(problem)") }
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) else {
            throw DatasetError("\(path): not JSON")
        }
        if let list = json as? [String], !list.isEmpty { return list }
        guard let map = json as? [String: String], !map.isEmpty else {
            throw DatasetError("\(path): expected {\"0\": \"class name\", ...} or a list of class names")
        }
        return try (0..<map.count).map { i in
            guard let name = map[String(i)] else {
                throw DatasetError("\(path): class index \(i) missing (indices must be 0..<\(map.count))")
            }
            return name
        }
    }

    public static func writeClasses(_ names: [String], to path: String) throws {
        var object: [String: String] = [:]
        for (i, n) in names.enumerated() { object[String(i)] = n }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        try AtomicFile.write(data, to: path)
    }

    /// Shard file name -> sample count from `dir`/shards.json; empty when absent or unreadable
    /// (the counts are then read from the shards).
    static func read(_ dir: String) -> [String: Int] {
        guard let data = FileManager.default.contents(atPath: dir + "/" + indexFile),
              let index = try? JSONDecoder().decode([String: [ShardInfo]].self, from: data) else { return [:] }
        var out: [String: Int] = [:]
        // A count below zero is no count: that shard's samples are read from it instead.
        for infos in index.values { for i in infos where i.nsamples >= 0 { out[(i.url as NSString).lastPathComponent] = i.nsamples } }
        return out
    }

    /// Records `split`'s shards in `dir`/shards.json, keeping the other split's entries.
    static func write(_ shards: [ShardInfo], split: ClassificationSplit, dir: String) throws {
        var index: [String: [ShardInfo]] = [:]
        if let data = FileManager.default.contents(atPath: dir + "/" + indexFile),
           let old = try? JSONDecoder().decode([String: [ShardInfo]].self, from: data) {
            index = old
        }
        index[split.rawValue] = shards
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(index), to: dir + "/" + indexFile)
    }
}
