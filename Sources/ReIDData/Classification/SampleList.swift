// SampleList: the images of a folder-layout split held compactly: file names in one byte
// buffer with end offsets, class indices and folder indices as 32-bit integers (about
// 12 bytes plus the file name per image, instead of a String path each), read back as
// ClassificationSample values.
import Foundation

public struct SampleList: RandomAccessCollection, Sendable {
    private var folders: [String] = []
    private var folderOf: [Int32] = []
    private var labels: [Int32] = []
    /// End offset of each file name in `names`; a name starts where the previous ends.
    private var ends: [Int] = []
    private var names: [UInt8] = []

    public init() {}

    public init<S: Sequence>(_ samples: S) where S.Element == ClassificationSample {
        for s in samples {
            append(folder: (s.path as NSString).deletingLastPathComponent, name: (s.path as NSString).lastPathComponent,
                   label: s.label)
        }
    }

    /// Appends `folder/name` with class `label`; consecutive images of one folder share it.
    mutating func append(folder: String, name: String, label: Int) {
        if folders.last != folder { folders.append(folder) }
        folderOf.append(Int32(folders.count - 1))
        labels.append(Int32(label))
        names.append(contentsOf: name.utf8)
        ends.append(names.count)
    }

    mutating func reserveCapacity(_ n: Int) {
        folderOf.reserveCapacity(n)
        labels.reserveCapacity(n)
        ends.reserveCapacity(n)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { labels.count }

    public subscript(i: Int) -> ClassificationSample {
        let start = i == 0 ? 0 : ends[i - 1]
        let name = names.withUnsafeBufferPointer { String(decoding: $0[start..<ends[i]], as: UTF8.self) }
        return ClassificationSample(path: folders[Int(folderOf[i])] + "/" + name, label: Int(labels[i]))
    }

    /// The class index of image `i` (without building its path).
    public func label(_ i: Int) -> Int { Int(labels[i]) }
}
