// TarShardWriter: writes one WebDataset tar shard through libarchive: members (`KEY.<ext>`
// with a file's original bytes, `KEY.cls` with the class index in ASCII) go to a
// temporary file renamed into place when complete.
import CArchive
import Tensors
import Foundation

/// Writes one tar shard: members in the order they are added, ustar/pax headers with
/// fixed owner and time, so the same input gives the same bytes.
public final class TarShardWriter {
    public let path: String
    private let temp: String
    private var archive: OpaquePointer?

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        if let problem = FileProblem.writing(into: url.deletingLastPathComponent().path) {
            throw DatasetError("\(path): cannot write: \(problem)")
        }
        temp = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)").path
        archive = archive_write_new()
        guard archive_write_set_format_pax_restricted(archive) == reidprune_archive_ok(),
              archive_write_open_filename(archive, temp) == reidprune_archive_ok() else {
            let message = Self.message(archive)
            archive_write_free(archive)
            archive = nil
            try? FileManager.default.removeItem(atPath: temp)
            throw DatasetError("\(path): cannot write: \(message)")
        }
    }

    deinit {
        if archive != nil {
            archive_write_free(archive)
            try? FileManager.default.removeItem(atPath: temp)
        }
    }

    static func message(_ a: OpaquePointer?) -> String {
        guard let a, let s = archive_error_string(a) else { return "libarchive error" }
        // libarchive's text for a failed write is "Write error"; the system's reason says why.
        let code = archive_errno(a)
        return String(cString: s) + (code > 0 ? " (\(String(cString: strerror(code))))" : "")
    }

    /// Appends a regular file member `name` holding `bytes`.
    public func add(name: String, bytes: Data) throws {
        precondition(archive != nil, "TarShardWriter.add after finish")
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, name)
        archive_entry_set_size(entry, la_int64_t(bytes.count))
        archive_entry_set_filetype(entry, reidprune_archive_regular_file())
        archive_entry_set_perm(entry, 0o644)
        archive_entry_set_mtime(entry, 0, 0)
        guard archive_write_header(archive, entry) == reidprune_archive_ok() else {
            throw DatasetError("\(path): cannot write member \(name): \(Self.message(archive))")
        }
        let written = bytes.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw DatasetError("\(path): cannot write member \(name): \(Self.message(archive))")
        }
    }

    /// Completes the shard and renames it into place.
    public func finish() throws {
        let done = try complete()
        guard rename(done, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: done)
            throw DatasetError("\(path): cannot write: \(reason)")
        }
    }

    /// Completes the shard under its temporary name and returns that path: the caller
    /// renames it to `path` (with other shards, once all are complete) or removes it.
    public func complete() throws -> String {
        precondition(archive != nil, "TarShardWriter.finish twice")
        let closed = archive_write_close(archive)
        let message = Self.message(archive)
        archive_write_free(archive)
        archive = nil
        guard closed == reidprune_archive_ok() else {
            try? FileManager.default.removeItem(atPath: temp)
            throw DatasetError("\(path): cannot write: \(message)")
        }
        return temp
    }
}

