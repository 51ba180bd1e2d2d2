// FileProblem: what is wrong with a path, in a few words, for one-line errors that name
// the path instead of Foundation's error dump: a missing file, a folder where a file
// should be, a file on the way to a folder, no permission, no space.
import Foundation

public enum FileProblem {
    /// Why `path` cannot be read as a file, or nil when it can.
    public static func reading(_ path: String) -> String? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            return blockingFile(on: path).map { "'\($0)' is a file, not a folder" } ?? "no such file"
        }
        if isFolder.boolValue { return "is a folder, not a file" }
        return access(path, R_OK) == 0 ? nil : "permission denied"
    }

    /// Why a file cannot be created in `folder` (a phrase naming the folder), or nil
    /// when it can.
    public static func writing(into folder: String) -> String? {
        let name = folder.isEmpty ? "." : folder
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: name, isDirectory: &isFolder) {
            if !isFolder.boolValue { return "'\(name)' is a file, not a folder" }
            return notWritable(name)
        }
        if let file = blockingFile(on: name) { return "'\(file)' is a file, not a folder" }
        return "there is no folder '\(name)'"
    }

    /// Why a file cannot be created (or replaced) at `path`, or nil when it can: an empty
    /// path, a folder of that name, or its folder's problem.
    public static func creating(_ path: String) -> String? {
        guard !path.isEmpty else { return "the path is empty" }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue { return "is a folder" }
        return writing(into: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    /// Why files cannot be written into the folder `path`, made with its missing parents
    /// when needed, or nil when they can.
    public static func folder(_ path: String) -> String? {
        guard !path.isEmpty else { return "the path is empty" }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            if !isFolder.boolValue { return "'\(path)' is a file, not a folder" }
            return notWritable(path)
        }
        if let file = blockingFile(on: path) { return "'\(file)' is a file, not a folder" }
        var parent = (path as NSString).standardizingPath
        while !parent.isEmpty && parent != "/" && !FileManager.default.fileExists(atPath: parent) {
            parent = (parent as NSString).deletingLastPathComponent
        }
        return writing(into: parent.isEmpty ? "." : parent)
    }

    /// Why the existing folder `folder` takes no new files (nil when it does): no
    /// permission, or a read-only file system.
    static func notWritable(_ folder: String) -> String? {
        guard access(folder, W_OK) != 0 else { return nil }
        return errno == EROFS ? "folder '\(folder)' is on a read-only file system"
            : "folder '\(folder)' is not writable (permission denied)"
    }

    /// An error's text for a one-line message: Foundation's file errors in a few words
    /// (`reason`), any other error as it describes itself.
    public static func text(_ error: Error) -> String {
        let e = error as NSError
        return e.domain == NSCocoaErrorDomain || e.domain == NSPOSIXErrorDomain ? reason(error) : "\(error)"
    }

    /// The reason of a file-system error in a few words.
    public static func reason(_ error: Error) -> String {
        var e = error as NSError
        while let u = e.userInfo[NSUnderlyingErrorKey] as? NSError { e = u }
        if e.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(e.code))) }
        switch e.code {
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "no such file"
        case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "permission denied"
        case NSFileWriteFileExistsError: return "a file of that name exists"
        case NSFileWriteOutOfSpaceError: return "no space left on device"
        case NSFileWriteVolumeReadOnlyError: return "read-only file system"
        default: return e.localizedDescription
        }
    }

    /// The first existing ancestor of `path` that is a file (so nothing can be below it).
    public static func blockingFile(on path: String) -> String? {
        var p = (path as NSString).standardizingPath
        while !p.isEmpty && p != "/" {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isFolder) { return isFolder.boolValue ? nil : p }
            p = (p as NSString).deletingLastPathComponent
        }
        return nil
    }
}
