// Safetensors: reading and writing the safetensors format directly: an 8-byte
// little-endian header length, a JSON header mapping each tensor name to its dtype,
// shape and byte range in the data section (plus optional "__metadata__" strings), then
// the raw little-endian data. Every inconsistency is an error naming the tensor and the
// byte offset; files are written to a temporary name and renamed.
import Foundation

public enum SafetensorsDType: String, Sendable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

    public var size: Int {
        switch self {
        case .F64, .I64: return 8
        case .F32, .I32: return 4
        case .F16, .BF16, .I16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }
}

public struct WeightsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// A parsed safetensors file (the whole file is mapped; tensors are converted on access).
public struct SafetensorsFile {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        /// Byte range within the data section.
        public let begin: Int
        public let end: Int
    }

    public let path: String
    public let metadata: [String: String]
    /// Entries in the order of their data offsets.
    public let entries: [Entry]
    private let byName: [String: Int]
    private let data: Data
    private let dataStart: Int

    public init(path: String) throws {
        if let problem = FileProblem.reading(path) { throw WeightsError("\(path): cannot read: \(problem)") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw WeightsError("\(path): cannot read: \(FileProblem.reason(error))")
        }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        self.path = path
        self.data = data
        guard data.count >= 8 else {
            throw WeightsError("\(path): \(data.count) bytes is too short for a safetensors header (needs 8 at byte offset 0)")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw WeightsError("\(path): header of \(headerLength) bytes runs past the end of the file "
                               + "(\(data.count) bytes; truncated at byte offset \(data.count))")
        }
        dataStart = 8 + Int(headerLength)
        let json = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + dataStart))
        guard let object = try? JSONSerialization.jsonObject(with: json), let header = object as? [String: Any] else {
            throw WeightsError("\(path): the header (bytes 8..<\(dataStart)) is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw WeightsError("\(path): __metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw WeightsError("\(path): metadata key '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any], let dt = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw WeightsError("\(path): tensor '\(name)' lacks dtype, shape or data_offsets in the header") }
            guard let dtype = SafetensorsDType(rawValue: dt) else {
                throw WeightsError("\(path): tensor '\(name)' has unsupported dtype \(dt)")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw WeightsError("\(path): tensor '\(name)' has shape \(shape) and offsets \(offsets)")
            }
            // The byte count, unless it overflows (a header no file can back).
            let expected = shape.contains(0) ? 0 : (shape + [dtype.size]).reduce(Optional(1)) { p, d in
                p.flatMap { let (r, o) = $0.multipliedReportingOverflow(by: d); return o ? nil : r }
            }
            guard let expected else {
                throw WeightsError("\(path): tensor '\(name)' has shape \(shape): more bytes than any file can hold")
            }
            guard offsets[1] - offsets[0] == expected else {
                throw WeightsError("\(path): tensor '\(name)' of shape \(shape) \(dt) needs \(expected) bytes "
                                   + "but its offsets \(offsets) span \(offsets[1] - offsets[0])")
            }
            let available = data.count - dataStart
            guard offsets[1] <= available else {
                let (end, overflow) = dataStart.addingReportingOverflow(offsets[1])
                guard !overflow else {
                    throw WeightsError("\(path): tensor '\(name)' has data offsets \(offsets): more bytes than any file can hold")
                }
                throw WeightsError("\(path): tensor '\(name)' needs bytes up to offset \(end) "
                                   + "but the file ends at byte offset \(data.count) (truncated)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1]))
        }
        entries.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        var cursor = 0
        for e in entries where e.end > e.begin {
            guard e.begin >= cursor else {
                throw WeightsError("\(path): tensor '\(e.name)' overlaps the previous tensor at data offset \(e.begin)")
            }
            cursor = e.end
        }
        self.metadata = metadata
        self.entries = entries
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.name] = i }
        byName = index
    }

    public func entry(_ name: String) -> Entry? { byName[name].map { entries[$0] } }

    /// Throws when the file records a fingerprint of its tensor bytes (`DataHash`) that they
    /// no longer match: the file was changed or damaged after it was written.
    public func verifyDataHash() throws {
        guard let recorded = metadata[DataHash.key] else { return }
        let now = data.withUnsafeBytes { DataHash.of(UnsafeRawBufferPointer(rebasing: $0[dataStart...])) }
        guard now == recorded else {
            throw WeightsError("\(path): its tensor bytes no longer match the fingerprint written with them (\(recorded), now "
                               + "\(now)): the file was changed or damaged after it was written")
        }
    }

    public var names: [String] { entries.map(\.name) }

    /// Throws, naming the first of `names` that holds a value below zero (what cannot be:
    /// a variance, a second moment), with the value and its index.
    public func requireNonNegative(_ names: [String], what: String) throws {
        for name in names where entry(name) != nil {
            let values = try floats(name)
            if let i = values.firstIndex(where: { $0 < 0 }) {
                throw WeightsError("\(path): '\(name)' has a negative \(what) \(values[i]) at index \(i); nothing was loaded")
            }
        }
    }

    /// The tensor's values converted to Float (from F32, F64, F16, BF16 or an integer type).
    public func floats(_ name: String) throws -> [Float] {
        guard let e = entry(name) else { throw WeightsError("\(path): no tensor '\(name)'") }
        let count = e.shape.reduce(1, *)
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Float] in
            let base = raw.baseAddress! + dataStart + e.begin
            return (0..<count).map { i in SafetensorsFile.float(base, i, e.dtype) }
        }
    }

    /// Copies the tensor, converted to Float, into `destination` (count must match).
    public func copyFloats(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        guard let e = entry(name) else { throw WeightsError("\(path): no tensor '\(name)'") }
        guard e.shape.reduce(1, *) == count else {
            throw WeightsError("\(path): tensor '\(name)' has \(e.shape.reduce(1, *)) values, expected \(count)")
        }
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + dataStart + e.begin
            if e.dtype == .F32 {
                memcpy(destination, base, count * 4)
            } else {
                for i in 0..<count { destination[i] = SafetensorsFile.float(base, i, e.dtype) }
            }
        }
    }

    /// Calls `body` with the tensor's raw little-endian bytes as stored (valid only during
    /// the call), for readers that copy large tensors in bulk.
    public func withBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let e = entry(name) else { throw WeightsError("\(path): no tensor '\(name)'") }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            try body(UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.begin)..<(dataStart + e.end)]))
        }
    }

    /// How many of the tensor's values are NaN and how many infinite, as they would load
    /// into Float (an F64 value beyond Float's range counts as infinite); integer tensors
    /// have none.
    public func nonFiniteCounts(_ name: String) throws -> (nan: Int, infinite: Int) {
        guard let e = entry(name) else { throw WeightsError("\(path): no tensor '\(name)'") }
        let count = e.shape.reduce(1, *)
        guard [.F32, .F64, .F16, .BF16].contains(e.dtype) else { return (0, 0) }
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> (Int, Int) in
            let base = raw.baseAddress! + dataStart + e.begin
            if e.dtype == .F32 {
                // Exponent bits all set: infinite or NaN. A first pass keeping the largest exponent vectorizes.
                var exponent: UInt32 = 0
                for i in 0..<count {
                    exponent = max(exponent, base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self) & 0x7f80_0000)
                }
                if exponent != 0x7f80_0000 { return (0, 0) }
            }
            var nan = 0, infinite = 0
            for i in 0..<count {
                let v = SafetensorsFile.float(base, i, e.dtype)
                if v.isNaN { nan += 1 } else if v.isInfinite { infinite += 1 }
            }
            return (nan, infinite)
        }
    }

    /// Throws, naming this file and every one of `names` that holds NaN or infinite
    /// values, before anything is loaded from it.
    public func requireFinite(_ names: [String]) throws {
        var bad: [String] = []
        for name in names {
            let (nan, infinite) = try nonFiniteCounts(name)
            guard nan + infinite > 0 else { continue }
            let count = entry(name)!.shape.reduce(1, *)
            let kinds = [nan > 0 ? "\(nan) NaN" : nil, infinite > 0 ? "\(infinite) infinite" : nil].compactMap { $0 }
            bad.append("\(name) (\(kinds.joined(separator: " and ")) of \(count) values)")
        }
        guard !bad.isEmpty else { return }
        throw WeightsError("\(path): non-finite values in \(bad.count) tensor(s), nothing was loaded: "
                           + bad.prefix(8).joined(separator: ", ") + (bad.count > 8 ? ", ..." : ""))
    }

    /// The tensor's values as Int64 (from any integer type).
    public func int64s(_ name: String) throws -> [Int64] {
        guard let e = entry(name) else { throw WeightsError("\(path): no tensor '\(name)'") }
        let count = e.shape.reduce(1, *)
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Int64] in
            let base = raw.baseAddress! + dataStart + e.begin
            switch e.dtype {
            case .I64: return (0..<count).map { base.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) }
            case .I32: return (0..<count).map { Int64(base.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
            case .I16: return (0..<count).map { Int64(base.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
            case .I8: return (0..<count).map { Int64(base.load(fromByteOffset: $0, as: Int8.self)) }
            case .U8, .BOOL: return (0..<count).map { Int64(base.load(fromByteOffset: $0, as: UInt8.self)) }
            default: throw WeightsError("\(path): tensor '\(name)' is \(e.dtype.rawValue), expected an integer type")
            }
        }
    }

    private static func float(_ base: UnsafeRawPointer, _ i: Int, _ dtype: SafetensorsDType) -> Float {
        switch dtype {
        case .F32: return base.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
        case .F64: return Float(base.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
        case .F16: return Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
        case .BF16:
            return Float(bitPattern: UInt32(base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16)
        case .I64: return Float(base.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
        case .I32: return Float(base.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
        case .I16: return Float(base.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
        case .I8: return Float(base.load(fromByteOffset: i, as: Int8.self))
        case .U8, .BOOL: return Float(base.load(fromByteOffset: i, as: UInt8.self))
        }
    }
}

/// A fingerprint of a file's tensor bytes, which a checkpoint carries in its metadata:
/// FNV-1a over little-endian 64-bit words (then the last bytes one by one), each multiply
/// followed by an xor-shift so that a change in a word's high bits reaches the low bits
/// too. Every step is a bijection of the running value, so any change of one word after
/// the file was written changes it.
public struct DataHash {
    public static let key = "reidprune.data_hash"
    private static let prime: UInt64 = 0x0000_0100_0000_01B3
    private var h: UInt64 = 0xcbf2_9ce4_8422_2325
    /// Bytes of a word not yet complete (the pieces need not be multiples of 8 bytes).
    private var pending: [UInt8] = []

    public init() {}

    /// The fingerprint of one contiguous byte range.
    public static func of(_ raw: UnsafeRawBufferPointer) -> String {
        var d = DataHash()
        d.update(raw)
        return d.value
    }

    /// Adds the next bytes, as if all pieces were one range.
    public mutating func update(_ raw: UnsafeRawBufferPointer) {
        var start = 0
        while !pending.isEmpty && start < raw.count {
            pending.append(raw[start])
            start += 1
            if pending.count == 8 {
                mix(pending.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
                pending.removeAll(keepingCapacity: true)
            }
        }
        let words = (raw.count - start) / 8
        for i in 0..<words {
            mix(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * i, as: UInt64.self)))
        }
        pending.append(contentsOf: raw[(start + 8 * words)...])
    }

    private mutating func mix(_ word: UInt64) {
        h = (h ^ word) &* Self.prime
        h ^= h >> 32
    }

    /// Words so far, then the last bytes one by one.
    public var value: String {
        var d = self
        for b in pending { d.mix(UInt64(b)) }
        return "xfnv64:" + String(d.h, radix: 16)
    }
}

/// Collects tensors and writes a safetensors file atomically (temporary name, rename).
public struct SafetensorsWriter {
    private var header: [(String, SafetensorsDType, [Int], Data)] = []
    public var metadata: [String: String] = [:]
    /// Record the tensor bytes' fingerprint (`DataHash`) in the metadata, for
    /// `SafetensorsFile.verifyDataHash` to check.
    public var hashData = false

    public init() {}

    public mutating func add(_ name: String, floats: UnsafeBufferPointer<Float>, shape: [Int]) {
        require(floats.count == shape.reduce(1, *), "SafetensorsWriter: \(name) has \(floats.count) values for \(shape)")
        header.append((name, .F32, shape, Data(buffer: floats)))
    }

    public mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        floats.withUnsafeBufferPointer { add(name, floats: $0, shape: shape) }
    }

    public mutating func add(_ name: String, int64s: [Int64], shape: [Int]) {
        require(int64s.count == shape.reduce(1, *), "SafetensorsWriter: \(name) has \(int64s.count) values for \(shape)")
        header.append((name, .I64, shape, int64s.withUnsafeBufferPointer { Data(buffer: $0) }))
    }

    /// The complete file contents.
    public func encoded() throws -> Data {
        var json: [String: Any] = [:]
        var offset = 0
        for (name, dtype, shape, bytes) in header {
            json[name] = ["dtype": dtype.rawValue, "shape": shape, "data_offsets": [offset, offset + bytes.count]]
            offset += bytes.count
        }
        var metadata = self.metadata
        if hashData {
            var hash = DataHash()
            for (_, _, _, bytes) in header { bytes.withUnsafeBytes { hash.update($0) } }
            metadata[DataHash.key] = hash.value
        }
        if !metadata.isEmpty { json["__metadata__"] = metadata }
        var headerBytes = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out = Data(capacity: 8 + headerBytes.count + offset)
        var length = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(headerBytes)
        for (_, _, _, bytes) in header { out.append(bytes) }
        return out
    }

    /// Writes to `path` through a temporary file in the same folder and a rename.
    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path)
    }
}

/// Writes files so that readers never see half of one: a temporary name, then rename.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        try writeAll([(data, path)])
    }

    /// Writes every file or none: each goes to a temporary name first, and only when all
    /// are written are they renamed into place (a failed run leaves every earlier file
    /// as it was).
    public static func writeAll(_ files: [(data: Data, path: String)]) throws {
        try checkCreatable(files.map(\.path))
        var staged: [(temp: String, path: String)] = []
        defer { for s in staged { try? FileManager.default.removeItem(atPath: s.temp) } }
        for (data, path) in files {
            let url = URL(fileURLWithPath: path)
            let temp = url.deletingLastPathComponent()
                .appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
            staged.append((temp.path, path))
            do {
                try data.write(to: temp)
            } catch {
                throw WeightsError("\(path): cannot write: \(FileProblem.reason(error))")
            }
        }
        try renameAll(&staged)
    }

    /// Renames each complete temporary file to its path, in order; `staged` keeps those
    /// not renamed when one fails (for the caller to remove). The files' contents reach the
    /// device before any rename, and the renames after, so that a machine that goes down
    /// (not only a process) leaves each path with its old file or its whole new one.
    public static func renameAll(_ staged: inout [(temp: String, path: String)]) throws {
        for s in staged { try flush(s.temp, reportingAs: s.path) }
        let folders = Set(staged.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path })
        while let s = staged.first {
            guard rename(s.temp, s.path) == 0 else {
                throw WeightsError("\(s.path): cannot write: rename failed: \(String(cString: strerror(errno)))")
            }
            staged.removeFirst()
        }
        // A folder's entry may not be flushable on every file system; the rename has happened either way.
        for folder in folders { try? flush(folder, reportingAs: folder, folder: true) }
    }

    /// fsync of a file (opened for writing: SMB refuses to flush a read-only handle) or a
    /// folder's entries; a file system that cannot (EINVAL, ENOTSUP) is let be.
    static func flush(_ path: String, reportingAs shown: String, folder: Bool = false) throws {
        let fd = open(path, folder ? O_RDONLY | O_DIRECTORY : O_WRONLY)
        guard fd >= 0 else { throw WeightsError("\(shown): cannot write: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 || [EINVAL, EROFS, ENOTSUP, EOPNOTSUPP].contains(errno) else {
            throw WeightsError("\(shown): cannot write: fsync failed: \(String(cString: strerror(errno)))")
        }
    }

    /// What names one file whatever the path to it: an existing file's device and inode (hard
    /// links too), else its folder's real path (symbolic links and `..` resolved) and its name.
    static func fileIdentity(_ path: String) -> String {
        var st = stat()
        if stat(path, &st) == 0 { return "inode \(st.st_dev):\(st.st_ino)" }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        guard let real = realpath(folder, nil) else { return "path " + url.standardizedFileURL.path }
        defer { free(real) }
        return "path " + String(cString: real) + "/" + url.lastPathComponent
    }

    /// Throws, naming the first path, unless a file can be created at each of `paths`:
    /// what a command checks before any work whose result it would write there.
    /// Two of `paths` naming the same file (one would replace the other) are an error too.
    public static func checkCreatable(_ paths: [String]) throws {
        var seen: [String: String] = [:]
        for path in paths {
            let key = fileIdentity(path)
            if let first = seen[key] {
                throw WeightsError("\(path): cannot write: names the same file as \(first), which is written too")
            }
            seen[key] = path
        }
        for path in paths {
            if let problem = FileProblem.creating(path) {
                throw WeightsError("\(path.isEmpty ? "''" : path): cannot write: \(problem)")
            }
        }
    }
}
