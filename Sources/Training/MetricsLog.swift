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

    deinit { try? handle.close() }
}
