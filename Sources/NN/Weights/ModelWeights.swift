// ModelWeights: a ReIDNet's weights to and from safetensors by torchvision key name.
// Loading checks every key first (missing, unexpected, wrong shape, NaN or infinite
// values) and loads nothing when any check fails; a partial mode loads a backbone (an
// ImageNet checkpoint with its `fc`, say) into a re-ID network. Exported files carry the
// architecture and head in their metadata so that a pruned model loads without knowing
// how it was pruned.
import Foundation
import Tensors

public enum ModelWeights {
    public static let architectureKey = "reidprune.architecture"
    public static let headKey = "reidprune.head"
    /// The input size a model was trained at (`input_height`, `input_width`, as an ONNX
    /// export records them), so that extraction and export default to it.
    public static let inputHeightKey = "input_height", inputWidthKey = "input_width"

    /// The metadata recording a training input size.
    public static func inputSizeMetadata(height: Int, width: Int) -> [String: String] {
        [inputHeightKey: "\(height)", inputWidthKey: "\(width)"]
    }

    /// The input size `file` records, or nil (a file written before it was recorded, a
    /// torchvision or timm file, or values that are not sizes).
    public static func inputSize(of file: SafetensorsFile) -> (height: Int, width: Int)? {
        // (Any size training accepts: a classification model may be trained on crops below 32.)
        guard let h = file.metadata[inputHeightKey].flatMap({ Int($0) }), let w = file.metadata[inputWidthKey].flatMap({ Int($0) }),
              ImageLimits.accepts(h, minimum: 1), ImageLimits.accepts(w, minimum: 1) else { return nil }
        return (h, w)
    }

    /// `--height`/`--width` for a command that feeds `weights` images: as given, else the
    /// size the file records, else re-ID's usual 256x128. A given size other than the
    /// recorded one comes with a warning (features then differ from the training's).
    public static func inputSize(height: Int?, width: Int?, weights: String) -> (height: Int, width: Int, warning: String?) {
        let recorded = (try? SafetensorsFile(path: weights)).flatMap { inputSize(of: $0) }
        let size = (height ?? recorded?.height ?? 256, width ?? recorded?.width ?? 128)
        guard let recorded, (height != nil || width != nil), (recorded.height, recorded.width) != size else {
            return (size.0, size.1, nil)
        }
        return (size.0, size.1, "warning: \(weights) was trained at \(recorded.height)x\(recorded.width); its features at "
                + "\(size.0)x\(size.1) will not be those of its training and evaluation")
    }

    /// How strictly a file must match the network.
    public enum Match: Sendable {
        /// Every key of the network and of the file must match.
        case strict
        /// Backbone keys must all be present and are loaded; the head (embedding, BNNeck,
        /// re-ID classifier, `fc`) is left as initialized; keys the network does not have
        /// (an ImageNet file's `fc.*` in a re-ID network, for example) are ignored.
        case backbone
    }

    /// Writes every parameter and buffer (batch counters as I64) with the architecture
    /// and head configuration in the metadata.
    public static func save(_ net: ReIDNet, to path: String, metadata extra: [String: String] = [:]) throws {
        try SafetensorsWriter.forNet(net, metadata: extra).write(to: path)
    }

    /// Loads a file into an existing network.
    public static func load(_ path: String, into net: ReIDNet, match: Match = .strict) throws {
        try load(try SafetensorsFile(path: path), into: net, match: match)
    }

    /// Loads the tensors whose names start with `prefix` (the prefix removed), so that
    /// a file holding several tensor sets (a checkpoint, a fixture) can be read.
    /// Names starting with one of `ignoring` (a checkpoint's optimizer state, say) are
    /// neither loaded nor reported as unexpected.
    public static func load(_ file: SafetensorsFile, into net: ReIDNet, match: Match = .strict,
                            prefix: String = "", ignoring: [String] = []) throws {
        let store = net.store
        var byCanonical: [String: String] = [:]
        for n in file.names where n.hasPrefix(prefix) && !ignoring.contains(where: n.hasPrefix) {
            byCanonical[canonical(String(n.dropFirst(prefix.count)))] = n
        }
        let fileNames = Set(byCanonical.keys)
        var missing: [String] = [], wrongShape: [String] = []
        let headPrefixes = ["embedding.", "bnneck.", "classifier.", "fc."]
        let isHead = { (name: String) in headPrefixes.contains(where: name.hasPrefix) }
        for name in store.allNames {
            // A backbone load takes nothing from the file's head (its classes differ).
            if match == .backbone && isHead(name) { continue }
            guard let fileName = byCanonical[name], let entry = file.entry(fileName) else {
                missing.append(name)
                continue
            }
            let expected = shape(of: name, in: store)
            let actual = entry.shape
            if actual.reduce(1, *) != expected.reduce(1, *) || (actual != expected && !(expected.isEmpty && actual.count <= 1)) {
                wrongShape.append("\(name): file \(actual), model \(expected)")
            }
        }
        let unexpected = match == .strict ? fileNames.subtracting(store.allNames).sorted() : []
        if !missing.isEmpty || !unexpected.isEmpty || !wrongShape.isEmpty {
            // One line: each list's first few names and how many more.
            func listed(_ what: String, _ names: [String], _ separator: String) -> String? {
                guard !names.isEmpty else { return nil }
                let more = names.count > 6 ? "\(separator)and \(names.count - 6) more" : ""
                return "\(what) (\(names.count)): " + names.prefix(6).joined(separator: separator) + more
            }
            let parts = [listed("missing keys", missing, ", "), listed("unexpected keys", unexpected, ", "),
                         listed("wrong shapes", wrongShape, "; ")].compactMap { $0 }
            throw WeightsError("\(file.path): weights do not match the network, nothing was loaded: "
                               + parts.joined(separator: "; "))
        }
        let loaded = store.allNames.filter { !(match == .backbone && isHead($0)) }
        try file.requireFinite(loaded.compactMap { byCanonical[$0] })
        // A variance below zero (a corrupt or hand-made file) would fold into NaN weights.
        try file.requireNonNegative(loaded.filter { $0.hasSuffix("running_var") }.compactMap { byCanonical[$0] },
                                    what: "variance")
        for name in loaded {
            guard let fileName = byCanonical[name], let (isBuffer, index) = store.lookup(name) else { continue }
            let t = isBuffer ? store.buffer(index) : store.parameter(index)
            try file.copyFloats(fileName, into: t.data, count: t.count)
        }
        store.parametersChanged()
    }

    /// Builds a network from a file that carries its architecture (every file this
    /// project writes does), then loads it strictly.
    /// `expected` (a depth name such as "resnet50", from a recipe's model.arch or an
    /// --arch option) must match the depth the file carries.
    public static func loadNet(_ path: String, expected: String? = nil) throws -> ReIDNet {
        try loadNet(SafetensorsFile(path: path), expected: expected)
    }

    /// The model an opened file holds (as `loadNet(_:expected:)`).
    public static func loadNet(_ file: SafetensorsFile, expected: String? = nil) throws -> ReIDNet {
        let path = file.path
        guard let (arch, head) = try architecture(of: file) else {
            throw WeightsError("\(path): no '\(architectureKey)' metadata (a torchvision or timm backbone?); this needs a "
                               + "model written by reidprune train or prune")
        }
        if let expected, expected != arch.depthName {
            throw WeightsError("\(path) holds a (possibly pruned) \(arch.depthName), not the \(expected) its recipe or "
                               + "--arch names")
        }
        let net = try ReIDNet(architecture: arch, head: head)
        try load(file, into: net, match: .strict, ignoring: ["optimizer.", "center_loss."])
        return net
    }

    /// The architecture and head a file carries, or nil for a file without them (a
    /// torchvision or timm checkpoint).
    public static func architecture(of file: SafetensorsFile) throws -> (ResNetArchitecture, HeadConfig)? {
        guard let archJSON = file.metadata[architectureKey], let headJSON = file.metadata[headKey] else { return nil }
        let decoder = JSONDecoder()
        let arch: ResNetArchitecture, head: HeadConfig
        do {
            arch = try decoder.decode(ResNetArchitecture.self, from: Data(archJSON.utf8))
            head = try decoder.decode(HeadConfig.self, from: Data(headJSON.utf8))
        } catch let error as DecodingError {
            throw WeightsError("\(file.path): unreadable architecture metadata: \(summary(error))")
        } catch {
            throw WeightsError("\(file.path): unreadable architecture metadata: \(error)")
        }
        do {
            try arch.validate()
            try head.validate()
        } catch {
            throw WeightsError("\(file.path): \(error)")
        }
        // Metadata that describes a larger network than the file's tensors hold is refused
        // before that network is allocated (the strict load compares every shape after).
        let parameters = FLOPsCounter.count(arch, head: head, height: 64, width: 32, includeClassifier: true).params
        let values = file.entries.reduce(0) { total, e in
            e.name.hasPrefix("optimizer.") || e.name.hasPrefix("center_loss.") ? total : total + e.shape.reduce(1, *)
        }
        guard parameters <= values else {
            throw WeightsError("\(file.path): its architecture metadata describes \(parameters) parameters, but its tensors "
                               + "hold \(values) values")
        }
        return (arch, head)
    }

    /// One line for a JSON decoding error: where in the metadata, and what was wrong.
    static func summary(_ error: DecodingError) -> String {
        func place(_ c: DecodingError.Context) -> String {
            let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return path.isEmpty ? "" : " at '\(path.hasPrefix(".") ? String(path.dropFirst()) : path)'"
        }
        switch error {
        case .keyNotFound(let key, let c): return "missing key '\(key.stringValue)'\(place(c))"
        case .typeMismatch(let type, let c): return "expected \(type)\(place(c))"
        case .valueNotFound(let type, let c): return "missing \(type) value\(place(c))"
        case .dataCorrupted(let c): return "\(c.debugDescription)\(place(c))"
        @unknown default: return "\(error)"
        }
    }

    /// DataParallel and some timm exports prefix every key; the network's names do not.
    static func canonical(_ name: String) -> String {
        for prefix in ["module.", "model."] where name.hasPrefix(prefix) { return String(name.dropFirst(prefix.count)) }
        return name
    }

    static func shape(of name: String, in store: ParameterStore) -> [Int] {
        let (isBuffer, index) = store.lookup(name)!
        return isBuffer ? store.bufferSlots[index].shape : store.parameterSlots[index].shape
    }
}

extension SafetensorsWriter {
    /// A writer holding every tensor of the network, named as torchvision names them.
    public static func forNet(_ net: ReIDNet, metadata extra: [String: String] = [:]) throws -> SafetensorsWriter {
        var w = SafetensorsWriter()
        let store = net.store
        for (i, slot) in store.parameterSlots.enumerated() {
            w.add(slot.name, floats: UnsafeBufferPointer(store.parameter(i).buffer), shape: slot.shape)
        }
        for (i, slot) in store.bufferSlots.enumerated() {
            let t = store.buffer(i)
            if store.bufferRoles[i] == .batchCount {
                w.add(slot.name, int64s: t.toArray().map { Int64($0) }, shape: slot.shape)
            } else {
                w.add(slot.name, floats: UnsafeBufferPointer(t.buffer), shape: slot.shape)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        w.metadata = extra
        w.metadata["format"] = "pt"
        w.metadata[ModelWeights.architectureKey] = String(decoding: try encoder.encode(net.architecture), as: UTF8.self)
        w.metadata[ModelWeights.headKey] = String(decoding: try encoder.encode(net.headConfig), as: UTF8.self)
        return w
    }
}
