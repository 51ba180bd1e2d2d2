// TarShardReader: reads the samples of one WebDataset tar shard through libarchive: the
// consecutive members that share a key, with the image member's bytes and the class
// index of the `.cls` member (tar, or tar compressed with a filter libarchive knows).
import CArchive
import Foundation
import Tensors

/// One sample of a shard: where it was read, its key, the image member's name and bytes, and the class index.
public struct ShardSample: Sendable {
    /// The shard file the sample was read from.
    public var shard: String
    public var key: String
    /// The image member's name (`KEY.jpg`, `KEY.JPEG`, `KEY.png`).
    public var member: String
    /// The image's bytes; empty when read with `withData: false`.
    public var bytes: Data
    public var label: Int
}

/// Reads the samples of one shard in order (tar, or tar compressed with gzip and the
/// other filters libarchive knows).
public final class TarShardReader {
    public let path: String
    private var archive: OpaquePointer?
    /// The current entry's name when its header is read and its data is not yet consumed.
    private var pending: String?
    private var finished = false

    /// Class indices must be below `classes` when given (the data set's class count).
    public let classes: Int?

    public init(path: String, classes: Int? = nil) throws {
        self.path = path
        self.classes = classes
        if let problem = FileProblem.reading(path) { throw DatasetError("\(path): cannot read shard: \(problem)") }
        archive = archive_read_new()
        archive_read_support_format_tar(archive)
        archive_read_support_filter_all(archive)
        guard archive_read_open_filename(archive, path, 1 << 16) == reidprune_archive_ok() else {
            let message = TarShardWriter.message(archive)
            archive_read_free(archive)
            archive = nil
            throw DatasetError("\(path): not a readable tar shard: \(message)")
        }
    }

    deinit { if archive != nil { archive_read_free(archive) } }

    /// The key and extension of a member name: WebDataset splits at the first dot of the
    /// last path component (`dir/n0144_1.JPEG` -> `dir/n0144_1`, `JPEG`).
    static func split(_ name: String) -> (key: String, ext: String) {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].firstIndex(of: ".") else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }

    /// The name of the next regular-file member (its data unread); nil at the end.
    private func nextHeader() throws -> String? {
        if let p = pending { pending = nil; return p }
        while !finished {
            var entry: OpaquePointer?
            let status = archive_read_next_header(archive, &entry)
            if status == reidprune_archive_eof() { finished = true; return nil }
            guard status == reidprune_archive_ok() || status == reidprune_archive_warn(), let entry else {
                throw DatasetError("\(path): corrupt tar shard: \(TarShardWriter.message(archive))")
            }
            guard archive_entry_filetype(entry) == reidprune_archive_regular_file(),
                  let cName = archive_entry_pathname(entry) else { continue }
            currentSize = Int(archive_entry_size(entry))
            return String(cString: cName)
        }
        return nil
    }

    private var currentSize = 0

    /// The current member's bytes.
    private func readData(_ name: String) throws -> Data {
        let size = currentSize
        guard size >= 0 && size < 1 << 31 else { throw DatasetError("\(path): member \(name): bad size \(size)") }
        var bytes = Data(count: size)
        let read = size == 0 ? 0 : bytes.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress, size) }
        guard read == size else {
            throw DatasetError("\(path): member \(name): truncated (\(read) of \(size) bytes): "
                               + TarShardWriter.message(archive))
        }
        return bytes
    }

    /// The next sample; nil at the end of the shard. `withData: false` skips the image's
    /// bytes (counting samples, moving a stream forward). A sample without an image member
    /// (jpg, jpeg, png) or without a valid `.cls` member is an error naming shard and key.
    public func next(withData: Bool = true) throws -> ShardSample? {
        guard let first = try nextHeader() else { return nil }
        let key = Self.split(first).key
        var image: (name: String, bytes: Data)?
        var label: Int?
        var names: [String] = []
        var name: String? = first
        while let m = name {
            if Self.split(m).key != key { pending = m; break }
            names.append(m)
            let ext = Self.split(m).ext.lowercased()
            if ext == "cls" {
                let text = String(decoding: try readData(m), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard let v = Int(text), v >= 0 else {
                    throw DatasetError("\(path): sample \(key): \(m) holds '\(text.prefix(20))', not a class index")
                }
                if let classes, v >= classes {
                    throw DatasetError("\(path): sample \(key): \(m) holds class \(v), but the data set has \(classes) "
                                       + "classes (0..<\(classes) in \(ShardIndex.classesFile))")
                }
                label = v
            } else if FolderLayout.imageExtensions.contains(ext) {
                image = (m, withData ? try readData(m) : Data())
            }
            name = try nextHeader()
        }
        guard let label else { throw DatasetError("\(path): sample \(key) has no .cls member") }
        guard let image else {
            throw DatasetError("\(path): sample \(key) has no image member (jpg, jpeg, png) among \(names.joined(separator: ", "))")
        }
        return ShardSample(shard: path, key: key, member: image.name, bytes: image.bytes, label: label)
    }

    /// The number of samples in the shard at `path` (reads headers and class members only).
    public static func count(_ path: String) throws -> Int {
        let r = try TarShardReader(path: path)
        var n = 0
        while try r.next(withData: false) != nil { n += 1 }
        return n
    }
}
