// Console: unbuffered output lines, so that progress shows as it happens even when
// stdout is a file or a pipe (mpirun's, a log's), and one-line JSON objects.
import Foundation

enum Console {
    static func line(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }

    /// `text` on one line: its lines, trimmed, joined with "; " (errors print as one line).
    static func oneLine(_ text: String) -> String {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // A line that introduces the next ("Expected one of:") runs on into it.
        return lines.indices.map { i in i == 0 ? lines[i] : (lines[i - 1].hasSuffix(":") ? " " : "; ") + lines[i] }.joined()
    }

    /// `value` as one line of JSON with sorted keys.
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
