// SynthFolders: where a synthetic set is written before it is renamed into place, shared
// by the re-ID and classification generators.
import Foundation
import Tensors

enum SynthFolders {
    /// Makes `out`'s temporary folder with `folders` below it (stale leftovers of the same
    /// process removed first) and returns its path. `out` may lie several levels below an
    /// existing folder: they are made. Nothing is left behind when it fails.
    static func makeTemporary(for out: String, folders: [String]) throws -> String {
        let parent = (out as NSString).deletingLastPathComponent
        if let problem = FileProblem.folder(parent.isEmpty ? "." : parent) {
            throw DatasetError("\(out): cannot write: \(problem)")
        }
        let fm = FileManager.default
        let temp = out + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: temp)
        do {
            for f in folders { try fm.createDirectory(atPath: temp + "/" + f, withIntermediateDirectories: true) }
        } catch {
            try? fm.removeItem(atPath: temp)
            throw DatasetError("\(out): cannot write: \(FileProblem.reason(error))")
        }
        return temp
    }
}
