// RunLock: one run per run folder. The root holds an advisory lock (flock) on
// `<run.dir>/.lock` for the run's life, with its host and PID written inside; a second
// run on the folder fails at once naming the holder. The kernel drops the lock when its
// process dies, so a lock file left by a dead process is taken over, with a note.
import Foundation
import Tensors

public final class RunLock {
    public let path: String
    private let fd: Int32
    /// "host pid N" of the dead process whose lock file was taken over, if any.
    public let tookOverFrom: String?
    /// Whether the lock made the folder (then a run that wrote nothing leaves no folder).
    private let created: Bool

    /// Locks `folder` (created when missing); throws naming the holder when another live
    /// process holds it.
    /// `key` names the folder's recipe key in messages (run.dir, scenario.dir).
    public init(folder: String, key: String = "run.dir") throws {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder)
        if exists && !isFolder.boolValue { throw ConfigError("\(key) '\(folder)' is a file, not a folder") }
        created = !exists
        if !exists, let file = FileProblem.blockingFile(on: folder) {
            throw ConfigError("\(key) '\(folder)': cannot create the run folder: '\(file)' is a file, not a folder")
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ConfigError("\(key) '\(folder)': cannot create the run folder: \(FileProblem.reason(error))")
        }
        if let problem = FileProblem.writing(into: folder) { throw ConfigError("\(key) '\(folder)': cannot write: \(problem)") }
        path = folder + "/.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ConfigError("\(key) '\(folder)': cannot create its lock file: \(String(cString: strerror(errno)))")
        }
        let previous = RunLock.contents(fd)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw ConfigError("\(key) '\(folder)' is in use by another run (\(previous.isEmpty ? "holder unknown" : previous)); "
                              + "wait for it or choose another \(key)")
        }
        tookOverFrom = previous.isEmpty ? nil : previous
        let me = "host \(ProcessInfo.processInfo.hostName) pid \(getpid())"
        _ = ftruncate(fd, 0)
        _ = me.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit {
        _ = ftruncate(fd, 0)
        let folder = (path as NSString).deletingLastPathComponent
        if created, (try? FileManager.default.contentsOfDirectory(atPath: folder)) == [".lock"] {
            try? FileManager.default.removeItem(atPath: folder)
        }
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// Removes temporary files that writers of this folder left when they died (a
    /// holder of the lock is the folder's only writer, so every one found is stale).
    /// Returns their names.
    @discardableResult
    public func removeStaleTemporaries() -> [String] {
        let folder = (path as NSString).deletingLastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let stale = names.filter { $0.hasPrefix(".") && $0.contains(".tmp-") }
        for name in stale { try? FileManager.default.removeItem(atPath: folder + "/" + name) }
        return stale.sorted()
    }

    private static func contents(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return "" }
        // What another run wrote ("host H pid P"); anything else is shown printable only.
        let text = String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return String(String.UnicodeScalarView(text.unicodeScalars.map { c in
            c.properties.generalCategory == .control ? " " : c == "\u{FFFD}" ? "?" : c
        }))
    }
}
