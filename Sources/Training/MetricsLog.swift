// MetricsLog: JSON lines appended to `metrics.jsonl` in the run folder, one object per
// logged iteration or event, flushed as written so that a crash loses nothing logged.
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
}
