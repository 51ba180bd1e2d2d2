// ClassificationLayout: the on-disk layouts of a classification data set (ImageNet
// ILSVRC-2012 as people have it, any class-per-folder tree, WebDataset tar shards) and
// their detection, which tells a class-per-folder tree from the custom re-ID layout
// (that one has query/ and gallery/).
import Foundation

public enum ClassificationLayout: String, Codable, CaseIterable, Sendable {
    /// `train/<wnid>/*.JPEG`; `val/` in class folders, or flat with `LOC_val_solution.csv`.
    case imagenet
    /// `train/<class>/<image>` and `val/<class>/<image>`.
    case imagefolder
    /// `train-NNNNNN.tar`, `val-NNNNNN.tar` and `classes.json` in one folder, or a brace
    /// pattern such as `DIR/train-{000000..000127}.tar`.
    case webdataset

    /// The classification layout `root` holds, or nil when it holds none (a re-ID layout,
    /// an unknown folder). Never throws: a caller that also knows the re-ID layouts asks
    /// this first and reports its own list when neither matches.
    public static func recognize(_ root: String) -> ClassificationLayout? {
        if ShardPattern.isPattern(root) || root.hasSuffix(".tar") { return .webdataset }
        let fm = FileManager.default
        func has(_ p: String) -> Bool { fm.fileExists(atPath: root + "/" + p) }
        if has("classes.json"), let names = try? fm.contentsOfDirectory(atPath: root),
           names.contains(where: { $0.hasSuffix(".tar") }) {
            return .webdataset
        }
        if has("ILSVRC/Data/CLS-LOC/train") { return .imagenet }
        // The custom re-ID layout: train/ beside query/ and gallery/ (or its CSV lists).
        if has("query") || has("gallery") || has("train.csv") { return nil }
        guard has("train"), FolderLayout.isDirectory(root + "/train") else { return nil }
        if ImageNetVal.solutionFile(root) != nil { return .imagenet }
        let classes = FolderLayout.classFolders(root + "/train")
        guard !classes.isEmpty else { return nil }
        if classes.allSatisfy(isWordNetID) { return .imagenet }
        return has("val") ? .imagefolder : nil
    }

    /// The layout of `root`; fails naming the path and listing what each layout expects.
    public static func detect(_ root: String) throws -> ClassificationLayout {
        if let layout = recognize(root) { return layout }
        if !ShardPattern.isPattern(root) && !FolderLayout.isDirectory(root) {
            throw DatasetError("\(root): no such folder")
        }
        throw DatasetError("""
            \(root): the folder matches no classification data set layout. Expected one of:
              imagenet: train/<wnid>/*.JPEG and val/ in class folders, or val/ flat with LOC_val_solution.csv \
            (in the root, in val/ or beside the root)
              imagefolder: train/<class>/<image> and val/<class>/<image> (jpg, jpeg, png), without query/ or gallery/
              webdataset: train-NNNNNN.tar, val-NNNNNN.tar and classes.json (written by `reidprune shards`), \
            or a brace pattern DIR/train-{000000..000127}.tar
            """)
    }

    /// ImageNet's class folder names: `n` and eight digits (WordNet synset ids).
    static func isWordNetID(_ name: String) -> Bool {
        name.count == 9 && name.first == "n" && name.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
    }
}
