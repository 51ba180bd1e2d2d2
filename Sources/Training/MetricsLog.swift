// MetricsLog: JSON lines appended to `metrics.jsonl` in the run folder, one object per
// logged iteration or event, flushed as written so that a crash loses nothing logged.
// JSON has no NaN or infinity: such numbers (a skipped step's loss) are written as null.
import Foundation

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
        guard let h = FileHandle(forWritingAtPath: path) else { throw ConfigError("\(path): cannot open the metrics log") }
        handle = h
        handle.seekToEndOfFile()
    }

    /// Appends one JSON object (keys sorted).
    public func write(_ fields: [String: Any]) {
        let fields = MetricsLog.finite(fields) as! [String: Any]
        guard JSONSerialization.isValidJSONObject(fields),
              let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else {
            fatalError("MetricsLog: fields are not JSON: \(fields)")
        }
        handle.write(data + Data("\n".utf8))
    }

    /// Bytes written so far (checkpoints record it, so a resume can drop what followed).
    public var size: UInt64 { handle.offsetInFile }

    /// Drops everything after the first `bytes` bytes: the rows a resumed run will write again.
    public func truncate(to bytes: UInt64) throws {
        guard bytes < size else { return }
        do {
            try handle.truncate(atOffset: bytes)
            try handle.seekToEnd()
        } catch {
            throw ConfigError("\(path): cannot drop the rows after the checkpoint: \(error.localizedDescription)")
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
