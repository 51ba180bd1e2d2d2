// ClassificationTree: tiny classification data sets on disk for the tests: class
// folders of small JPEGs that all differ (a per-image gradient), in the imagefolder or
// ImageNet layout, removed when the test ends.
import Foundation
import ReIDData

struct ClassificationTree {
    let root: String

    /// `classes` class folders under train/ and val/ with `perClass` / `valPerClass` JPEGs of
    /// width x height (varying by image when `vary`).
    static func make(classes: [String], perClass: Int, valPerClass: Int = 2, width: Int = 40, height: Int = 30,
                     vary: Bool = true) throws -> ClassificationTree {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-cls-\(UUID().uuidString)").path
        let codec = ImageCodec()
        for (split, count) in [("train", perClass), ("val", valPerClass)] {
            for (c, name) in classes.enumerated() {
                let dir = "\(root)/\(split)/\(name)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for i in 0..<count {
                    let image = Self.image(seed: c * 97 + i * 7 + (split == "val" ? 3 : 0),
                                           width: width + (vary ? (i * 5) % 17 : 0), height: height + (vary ? (i * 3) % 11 : 0))
                    try codec.encodeJPEG(image, quality: 92).write(to: URL(fileURLWithPath: "\(dir)/\(name)_\(i).JPEG"))
                }
            }
        }
        return ClassificationTree(root: root)
    }

    static func image(seed: Int, width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let p = (y * width + x) * 3
                pixels[p] = UInt8((seed * 7 + x * 5) % 256)
                pixels[p + 1] = UInt8((seed * 13 + y * 6) % 256)
                pixels[p + 2] = UInt8((seed * 29 + x * y) % 256)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// A served batch as plain values.
struct Served: Equatable {
    let bits: [UInt32]
    let labels: [Int]
    init(_ b: Batch) { bits = b.images.toArray().map(\.bitPattern); labels = b.pids }
    init(concatenating parts: [Served]) {
        bits = parts.flatMap(\.bits)
        labels = parts.flatMap(\.labels)
    }
}

func servedEpoch(_ s: ClassificationSource, _ e: Int, from first: Int = 0) throws -> [Served] {
    s.startEpoch(e, at: first)
    return try (first..<s.batchesPerEpoch).map { _ in Served(try s.next()) }
}

