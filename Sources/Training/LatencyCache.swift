// LatencyCache: the file that keeps latency tables across runs, one table per machine
// (CPU model name from /proc/cpuinfo, thread count, "bf16" for bf16 kernels, the oneDNN
// version and the revision of ReIDPrune's inference kernels), as JSON {"format": 1,
// "machines": {"<CPU model> | <n> threads[ | bf16] | oneDNN <v> | kernels <r>": {"<shape
// key>": ms}}}; a table for another machine, thread count, precision, oneDNN or kernels
// revision never answers for this one. Writes are
// atomic and merge with what the file holds then; an unreadable file is an error
// naming it (delete it to rebuild), never silently replaced.
import Foundation
import Pruning
import Tensors

public struct LatencyCache: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    /// `$XDG_CACHE_HOME/reidprune/latency.json`, else `~/.cache/reidprune/latency.json`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")
        return base + "/reidprune/latency.json"
    }

    /// Which of ReIDPrune's ways of running inference convolutions, and of timing them, the
    /// entries hold: raised whenever that changes (2: 3x3s of at least 64 channels run as
    /// Winograd at any batch and map size, with their weights transformed once, when
    /// packed; 3: each pass is timed with its weights coming from memory and its input in
    /// the cache, as inside a network larger than the cache; 4: inference 3x3s of at least
    /// 64 channels run as Winograd whatever their channel counts, not only multiples of
    /// 16), so that timings of the old kernels or the old way are not taken for the new ones.
    public static let kernelsRevision = 4

    /// "<CPU model> | <threads> threads" from the text of /proc/cpuinfo (its first
    /// "model name" line; "unknown CPU" without one), " | bf16" for bf16 kernels (fp32
    /// keys are those of files written before precisions were told apart), then
    /// " | oneDNN <version> | kernels <revision>" when a version is given: another oneDNN
    /// or another revision of ReIDPrune's kernels times its own entries.
    public static func machineKey(cpuinfo: String, threads: Int, precision: Precision = .fp32,
                                  oneDNN: String? = nil, kernels: Int = kernelsRevision) -> String {
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return "\(model.isEmpty ? "unknown CPU" : model) | \(threads) threads" + (precision == .bf16 ? " | bf16" : "")
            + (oneDNN.map { " | oneDNN \($0) | kernels \(kernels)" } ?? "")
    }

    /// This machine's key at `threads` threads for kernels of `precision`, with the
    /// oneDNN library loaded now and this build's kernels revision.
    public static func currentMachine(threads: Int, precision: Precision = .fp32) -> String {
        machineKey(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "", threads: threads,
                   precision: precision, oneDNN: DNNL.version)
    }

    /// Every machine's entries in the file (none when it does not exist).
    public func load() throws -> [String: [ConvShape: Double]] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        func corrupt(_ why: String) -> PruningError {
            PruningError("latency cache \(path): \(why); delete the file to rebuild it")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw corrupt("cannot be read") }
        guard let top = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              top["format"] as? Int == 1, let machines = top["machines"] as? [String: Any] else {
            throw corrupt("not a reidprune latency cache (format 1)")
        }
        var tables: [String: [ConvShape: Double]] = [:]
        for (machine, value) in machines {
            guard let entries = value as? [String: Any] else { throw corrupt("machine '\(machine)' is not a table") }
            var table: [ConvShape: Double] = [:]
            for (key, ms) in entries {
                guard let shape = ConvShape(key: key), let v = (ms as? NSNumber)?.doubleValue, v.isFinite, v >= 0 else {
                    throw corrupt("bad entry '\(key)' of machine '\(machine)'")
                }
                table[shape] = v
            }
            tables[machine] = table
        }
        return tables
    }

    /// The table of `machine` as the file holds it, timing missing shapes with `measure`.
    /// `valueBytes`: of inference activations (2 in bf16), for `LatencyTable`.
    public func table(machine: String, valueBytes: Int = 4, measure: ((ConvShape) throws -> Double)?) throws -> LatencyTable {
        LatencyTable(machine: machine, entries: try load()[machine] ?? [:], valueBytes: valueBytes, measure: measure)
    }

    /// Adds `table`'s entries to its machine's in the file (written atomically; the
    /// folder is made when missing).
    public func save(_ table: LatencyTable) throws {
        var tables = try load()
        tables[table.machine, default: [:]].merge(table.entries) { _, new in new }
        var machines: [String: [String: Double]] = [:]
        for (machine, entries) in tables {
            machines[machine] = Dictionary(uniqueKeysWithValues: entries.map { ($0.key.key, $0.value) })
        }
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let data = try JSONSerialization.data(withJSONObject: ["format": 1, "machines": machines] as [String: Any],
                                              options: [.sortedKeys, .prettyPrinted])
        try AtomicFile.write(data, to: path)
    }

    /// Times a shape with the inference kernels of `precision` (`repeats` timed passes,
    /// median, each with its weights coming from memory and its input and output in the
    /// cache, as inside a network larger than the cache) at the current thread count; in
    /// bf16, with bfloat16 activations in and out, as bf16 inference runs them.
    public static func timer(repeats: Int, precision: Precision = .fp32) -> (ConvShape) throws -> Double {
        { s in
            var g = ConvGeometry(batch: s.batch, inChannels: s.inChannels, height: s.height, width: s.width,
                                 outChannels: s.outChannels, kernel: s.kernel, stride: s.stride, padding: s.padding,
                                 bias: true)
            g.precision = precision
            // The stem reads the float32 images and writes float32 for max pooling.
            g.bf16Activations = precision == .bf16 && s.inChannels != 3
            switch s.post {
            case .none: g.postOps = .none
            case .relu: g.postOps = .relu
            case .sum: g.postOps = .sumRelu
            }
            return ConvolutionTiming.forwardMilliseconds(g, repeats: repeats)
        }
    }
}
