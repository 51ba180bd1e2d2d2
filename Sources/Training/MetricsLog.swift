// MetricsLog: JSON lines appended to `metrics.jsonl` in the run folder, one object per
// logged iteration or event, flushed as written so that a crash loses nothing logged.
// JSON has no NaN or infinity: such numbers (a skipped step's loss) are written as null.
import Foundation
import Tensors

public final class MetricsLog {
    public let path: String
    private let handle: FileHandle

    public init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ConfigError("\(path): cannot create the metrics log")
            }
        }
        guard let h = FileHandle(forUpdatingAtPath: path) else {
            let why = FileProblem.reading(path) ?? (access(path, W_OK) == 0 ? "unreadable" : "permission denied")
            throw ConfigError("\(path): cannot open the metrics log: \(why)")
        }
        handle = h
        let end = handle.seekToEndOfFile()
        // A line cut short (a crash mid-write, a file cut by hand) is dropped, so that the
        // next row starts a line of its own.
        if end > 0 {
            handle.seek(toFileOffset: end - 1)
            if handle.readData(ofLength: 1) != Data("\n".utf8) {
                let keep = Self.lastLineEnd(handle, size: end)
                try? handle.truncate(atOffset: keep)
                partialLineDropped = end - keep
            }
            handle.seekToEndOfFile()
        }
    }

    /// How much shorter the log was than a checkpoint recorded (rows lost before it; 0: none).
    public private(set) var missingBytes: UInt64 = 0

    /// Bytes of a partial last line dropped when the log was opened (0: none).
    public private(set) var partialLineDropped: UInt64 = 0

    /// The offset just past the file's last newline (0 when it has none), read backwards
    /// from the end in blocks, so that a long log is not read whole.
    static func lastLineEnd(_ handle: FileHandle, size: UInt64) -> UInt64 {
        let block: UInt64 = 64 << 10
        var end = size
        while end > 0 {
            let start = end > block ? end - block : 0
            handle.seek(toFileOffset: start)
            let data = handle.readData(ofLength: Int(end - start))
            if let i = data.lastIndex(of: UInt8(ascii: "\n")) { return start + UInt64(i - data.startIndex + 1) }
            end = start
        }
        return 0
    }

    /// Appends one JSON object (keys sorted); throws, naming the log, when the line cannot
    /// be written (a full disk): a partial line is dropped when the log is opened again.
    public func write(_ fields: [String: Any]) throws {
        let fields = MetricsLog.finite(fields) as! [String: Any]
        guard JSONSerialization.isValidJSONObject(fields),
              let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else {
            fatalError("MetricsLog: fields are not JSON: \(fields)")
        }
        do {
            try handle.write(contentsOf: data + Data("\n".utf8))
        } catch {
            throw ConfigError("\(path): cannot write the metrics log: \(FileProblem.reason(error))")
        }
    }

    /// Bytes written so far (checkpoints record it, so a resume can drop what followed).
    public var size: UInt64 { handle.offsetInFile }

    /// Drops everything after the first `bytes` bytes: the rows a resumed run will write again.
    public func truncate(to bytes: UInt64) throws {
        guard bytes < size else {
            missingBytes = bytes - size
            return
        }
        do {
            try handle.truncate(atOffset: bytes)
            try handle.seekToEnd()
        } catch {
            throw ConfigError("\(path): cannot drop the rows after the checkpoint: \(FileProblem.reason(error))")
        }
    }

    deinit { try? handle.close() }

    /// `value` with every non-finite Double or Float, at any depth, replaced by null.
    static func finite(_ value: Any) -> Any {
        switch value {
        case is Int, is Bool, is String: return value
        case let x as Double: return x.isFinite ? x : NSNull()
        case let x as Float: return x.isFinite ? x : NSNull()
        case let d as [String: Any]: return d.mapValues(finite)
        case let a as [Any]: return a.map(finite)
        default: return value
        }
    }
}
