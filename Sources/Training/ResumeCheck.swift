// ResumeCheck: the one check before a run continues from its checkpoint. The checkpoint
// carries the full recipe it was written under; a resume compares it with its own
// recipe key by key and refuses any change that breaks exact resumption (architecture,
// data, optimizer, losses, pruning, ...), naming the keys. Changes that leave the
// trajectory as it was (more or fewer epochs, evaluation (a pruning round's too), logging, checkpoint cadence)
// are allowed and recorded; keys added since the checkpoint was written read as their
// defaults. The number of ranks may change too (a lost host, a smaller
// allocation) when the data comes through the global sampler: the global batch, which
// the recipe fixes, is then the same whatever the rank count; a source that reads per
// rank (shards) refuses it.
import Foundation
import ReIDData

public enum ResumeCheck {
    /// Keys (or key prefixes ending in ".") a resume may change.
    public static let safeKeys = ["train.epochs", "eval.", "train.log_every", "train.progress", "train.checkpoint_every",
                                  "train.checkpoint_iterations", "train.max_iterations", "run.dir", "data.workers",
                                  "data.prefetch", "distributed.checksum_every", "prune.evaluate"]

    public struct Change: Codable, Equatable, Sendable {
        public var key: String
        public var old: String
        public var new: String
        public init(key: String, old: String, new: String) {
            self.key = key
            self.old = old
            self.new = new
        }
    }

    /// The changes from `saved` to `current` (both recipes as the typed config renders
    /// them), all of them safe; throws naming every unsafe one. `ranks` are the rank
    /// counts of the checkpoint (nil: not recorded) and of this run; a change is listed
    /// as the key "ranks" and refused when `perRankStream` (the data source reads per rank).
    public static func check(saved: String, current: String, checkpoint: String, ranks: (saved: Int?, now: Int) = (nil, 1),
                             perRankStream: Bool = false) throws -> [Change] {
        let old = try leaves(rendered(saved, origin: checkpoint, written: true), origin: checkpoint)
        let new = try leaves(rendered(current, origin: "the recipe"), origin: "the recipe")
        var changes = Set(old.keys).union(new.keys).sorted().compactMap { key -> Change? in
            let (a, b) = (old[key] ?? "(absent)", new[key] ?? "(absent)")
            return a == b ? nil : Change(key: key, old: a, new: b)
        }
        if let before = ranks.saved, before != ranks.now {
            if perRankStream {
                throw ConfigError("\(checkpoint): cannot resume: the rank count changed (\(before) -> \(ranks.now)) and "
                                  + "every rank reads its own part of the data (shards), so the batches would differ; "
                                  + "resume on \(before) ranks, or start over with --fresh or another run.dir")
            }
            changes.append(Change(key: "ranks", old: "\(before)", new: "\(ranks.now)"))
        }
        // A cosine schedule is stretched over train.epochs: changing them changes every learning rate.
        let cosine = new["train.schedule"] == "cosine" || old["train.schedule"] == "cosine"
        let unsafe = changes.filter { c in
            c.key != "ranks" && !safeKeys.contains { $0.hasSuffix(".") ? c.key.hasPrefix($0) : c.key == $0 } || (cosine && c.key == "train.epochs")
        }
        guard unsafe.isEmpty else {
            throw ConfigError("\(checkpoint): cannot resume: the recipe changed "
                              + unsafe.map { "'\($0.key)' (\($0.old) -> \($0.new))" }.joined(separator: ", ")
                              + "; a resumed run must train what the checkpoint trained (restore the keys, or start over "
                              + "with --fresh or another run.dir)")
        }
        return changes
    }

    /// A recipe as this build's typed config renders it, so that a key added since a
    /// checkpoint was written comes in at its default (what the run that wrote it did)
    /// instead of reading as a change; a recipe that does not read as a training run (a
    /// partial one) is compared as written.
    static func rendered(_ yaml: String, origin: String, written: Bool = false) -> String {
        guard var tree = (try? ConfigFile.parse(yaml, what: origin)) as? [String: Any] else { return yaml }
        if written { olderBehaviour(&tree) }
        guard let config = try? ExperimentConfig.parse(ConfigFile(root: tree, origin: origin), strict: false) else { return yaml }
        return config.yaml
    }

    /// Keys added since with a default that is not what earlier builds did: a checkpoint's
    /// recipe without them takes what its run did. MSMT17 trained on list_val.txt too
    /// before `data.msmt17_val` (default false) said whether to.
    static func olderBehaviour(_ tree: inout [String: Any]) {
        guard var data = tree["data"] as? [String: Any], data["msmt17_val"] == nil else { return }
        let roots = [data["root"] as? String].compactMap { $0 } + ((data["extra_train_roots"] as? [Any]) ?? []).compactMap { $0 as? String }
        let kind = (data["kind"] as? String).flatMap(DatasetKind.init(rawValue:))
        guard kind == .msmt17 || roots.contains(where: { (try? DatasetReader.detect($0)) == .msmt17 }) else { return }
        data["msmt17_val"] = true
        tree["data"] = data
    }

    static func leaves(_ yaml: String, origin: String) throws -> [String: String] {
        guard let tree = try ConfigFile.parse(yaml, what: "\(origin): the saved recipe") as? [String: Any] else {
            throw ConfigError("\(origin): the saved recipe is not a mapping of sections")
        }
        return ConfigFile(root: tree, origin: origin).leafValues()
    }
}
