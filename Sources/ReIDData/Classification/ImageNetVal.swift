// ImageNetVal: ImageNet's validation split as people have it: in class folders (after
// the usual reorganisation script), or flat (ILSVRC2012_val_00000001.JPEG ...) with the
// Kaggle challenge's LOC_val_solution.csv giving each image's synset.
import Foundation

enum ImageNetVal {
    static let solutionName = "LOC_val_solution.csv"

    /// The solution file for `root`: in the root, in val/, or beside the root (Kaggle's
    /// tree keeps it two levels above ILSVRC/Data/CLS-LOC).
    static func solutionFile(_ root: String) -> String? {
        let parent = (root as NSString).deletingLastPathComponent
        let grand = ((parent as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let candidates = [root, root + "/val", parent, grand]
        return candidates.map { $0 + "/" + solutionName }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The validation samples of `valDir` labelled with `classNames` indices.
    static func samples(_ valDir: String, root: String, classNames: [String]) throws -> SampleList {
        guard FolderLayout.isDirectory(valDir) else { throw DatasetError("\(valDir): missing folder") }
        if !FolderLayout.classFolders(valDir).isEmpty {
            return try FolderLayout.samples(valDir, classNames: classNames)
        }
        let files = try FolderLayout.images(valDir)
        guard !files.isEmpty else { throw DatasetError("\(valDir): no images and no class folders") }
        guard let csv = solutionFile(root) else {
            throw DatasetError("\(valDir): flat validation images need \(solutionName) (in \(root), in \(valDir) "
                               + "or beside the root); none found")
        }
        let labels = try solution(csv, classNames: classNames)
        var out = SampleList()
        out.reserveCapacity(files.count)
        for f in files {
            let id = (f as NSString).deletingPathExtension
            guard let label = labels[id] else {
                throw DatasetError("\(valDir)/\(f): validation image with no label in \(csv)")
            }
            out.append(folder: valDir, name: f, label: label)
        }
        return out
    }

    /// ImageId -> class index from `ImageId,PredictionString` rows, where the prediction
    /// string starts with the synset (`n01751748 73 8 500 335 ...`).
    static func solution(_ path: String, classNames: [String]) throws -> [String: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DatasetError("\(path): unreadable")
        }
        let index = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        var out: [String: Int] = [:]
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: ",", maxSplits: 1)
            if n == 0 && fields.first == "ImageId" { continue }
            guard fields.count == 2, let wnid = fields[1].split(separator: " ").first else {
                throw DatasetError("\(path):\(n + 1): expected 'ImageId,<synset> ...', got '\(line)'")
            }
            guard let label = index[String(wnid)] else {
                throw DatasetError("\(path):\(n + 1): synset \(wnid) is not a class folder of train/")
            }
            if let earlier = out[String(fields[0])], earlier != label {
                throw DatasetError("\(path):\(n + 1): image \(fields[0]) is listed again with another class")
            }
            out[String(fields[0])] = label
        }
        return out
    }
}
