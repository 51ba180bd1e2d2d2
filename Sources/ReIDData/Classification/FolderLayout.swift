// FolderLayout: reads class-per-folder trees (ImageNet's train/ and val/, any image
// folder) into (path, class index) samples. Class indices are the sorted class folder
// names, as torchvision's ImageFolder numbers them; files in a class folder are sorted too.
import Foundation

/// One image of a classification split: its file and its class index.
public struct ClassificationSample: Hashable, Codable, Sendable {
    public var path: String
    public var label: Int

    public init(path: String, label: Int) {
        self.path = path
        self.label = label
    }
}

enum FolderLayout {
    /// File extensions read as images (case-insensitive), as ImageFolder's IMG_EXTENSIONS
    /// restricted to what the codecs decode.
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    static func isImage(_ name: String) -> Bool {
        imageExtensions.contains((name as NSString).pathExtension.lowercased()) && !name.hasPrefix(".")
    }

    /// Names in Python's `sorted` order (by Unicode code points, without normalization),
    /// which is how ImageFolder numbers classes; Swift's `<` compares canonical forms.
    static func pythonSorted(_ names: [String]) -> [String] {
        names.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
    }

    /// The sorted names of the sub-folders of `dir` (hidden ones left out); empty when none.
    static func classFolders(_ dir: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return pythonSorted(names.filter { !$0.hasPrefix(".") && isDirectory(dir + "/" + $0) })
    }

    /// The sorted image file names directly in `dir`.
    static func images(_ dir: String) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            throw DatasetError("\(dir): missing or unreadable folder")
        }
        return pythonSorted(names.filter(isImage))
    }

    /// The class folder names of `dir` (a split); fails when there are none.
    static func classNames(_ dir: String) throws -> [String] {
        guard isDirectory(dir) else { throw DatasetError("\(dir): missing folder") }
        let classes = classFolders(dir)
        guard !classes.isEmpty else { throw DatasetError("\(dir): no class folders (expected \(dir)/<class>/<image>)") }
        return classes
    }

    /// Every image of `dir`/<class>/ with its index in `classNames`. A class folder without
    /// images, or one whose name is not in `classNames`, is an error naming it.
    static func samples(_ dir: String, classNames: [String]) throws -> SampleList {
        let index = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        var out = SampleList()
        for name in classFolders(dir) {
            guard let label = index[name] else {
                throw DatasetError("\(dir)/\(name): class folder that train/ does not have")
            }
            let files = try images(dir + "/" + name)
            guard !files.isEmpty else {
                throw DatasetError("\(dir)/\(name): class folder with no images (jpg, jpeg, png)")
            }
            out.reserveCapacity(out.count + files.count)
            for f in files { out.append(folder: "\(dir)/\(name)", name: f, label: label) }
        }
        return out
    }
}
