// SynthClassification: a procedural stand-in for ImageNet (synthetic, and labelled so):
// per class a shape, a surface texture, a palette and a background style, drawn 1-3 times
// per image at random places, sizes and angles over a textured background with clutter
// and noise; JPEGs of 160-500 px sides and varied aspect, written in the ImageNet layout
// (train/<wnid-like class>/, val/<class>/) with a manifest describing every class.
import Foundation
import Tensors

public struct SynthClassificationOptions: Codable, Hashable, Sendable {
    public var classes = 100
    public var imagesPerClass = 100
    public var valPerClass = 10
    public var seed: UInt64 = 1
    public init() {}

    public func validate() throws {
        func need(_ ok: Bool, _ what: String) throws { if !ok { throw DatasetError("synth: \(what)") } }
        try need((2...100_000).contains(classes), "--classes must be in 2...100000, got \(classes)")
        try need((1...100_000).contains(imagesPerClass), "--images-per-class must be in 1...100000, got \(imagesPerClass)")
        try need((1...10_000).contains(valPerClass), "--val-per-class must be in 1...10000, got \(valPerClass)")
        let total = classes * (imagesPerClass + valPerClass)
        try need(total <= 20_000_000, "the set would hold \(total) images, more than 20000000")
    }
}

public struct SynthClassificationManifest: Codable, Sendable {
    public var generator = SynthClassification.version
    /// Always true: results on this data are on synthetic images.
    public var synthetic = true
    public var options: SynthClassificationOptions
    public var train: Int
    public var val: Int
    /// Class folder name -> what its images show.
    public var classes: [String: String]
}

public enum SynthClassification {
    public static let version = "SynthClassification 1"

    /// Class folder names: WordNet-id-like (`n00000042`), so the set reads as ImageNet.
    public static func className(_ c: Int) -> String { String(format: "n%08d", c) }

    /// Writes the data set into `out` through a temporary folder renamed at the end; an
    /// existing set made with the same options and version is kept.
    /// `stop` is asked between images: a reason (a signal's name) ends the generation,
    /// and nothing of it is kept.
    @discardableResult
    public static func generate(_ o: SynthClassificationOptions, out: String,
                                log: (String) -> Void = { _ in },
                                stop: @escaping @Sendable () -> String? = { nil }) throws -> SynthClassificationManifest {
        try o.validate()
        let fm = FileManager.default
        if fm.fileExists(atPath: out) {
            if let data = fm.contents(atPath: out + "/manifest.json"),
               let m = try? JSONDecoder().decode(SynthClassificationManifest.self, from: data),
               m.options == o, m.generator == version {
                log("\(out): already holds this synthetic classification set; kept")
                return m
            }
            throw DatasetError("\(out): exists and is not a set made by \(version) with these options; "
                               + "choose another folder (data.root in a recipe, --out for reidprune synth) or remove it")
        }
        let styles = (0..<o.classes).map { SynthClassStyle(seed: o.seed, index: $0) }
        let temp = try SynthFolders.makeTemporary(for: out, folders: ["train", "val"].flatMap { split in
            (0..<o.classes).map { "\(split)/\(className($0))" }
        })
        let perClass = o.imagesPerClass + o.valPerClass
        let total = o.classes * perClass
        log("synthetic classification set: rendering \(total) images of \(o.classes) classes into \(out)")
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        nonisolated(unsafe) var failure: Error?
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let codec = ImageCodec()
            var job = w
            while job < total {
                let c = job / perClass, i = job % perClass
                let val = i >= o.imagesPerClass
                let n = val ? i - o.imagesPerClass : i
                do {
                    if let why = stop() { throw DatasetError("stopped by \(why); nothing was kept") }
                    var rng = SeededRandom(seed: o.seed, keys: 0x5343_4C53, c, i)
                    let image = SynthClassImage.render(styles[c], rng: &rng)
                    let data = try codec.encodeJPEG(image, quality: 75 + rng.int(21))
                    let name = "\(temp)/\(val ? "val" : "train")/\(className(c))/\(className(c))_\(n).JPEG"
                    try data.write(to: URL(fileURLWithPath: name))
                } catch {
                    lock.lock()
                    if failure == nil { failure = error }
                    lock.unlock()
                    return
                }
                job += workers
            }
        }
        if let failure {
            try? fm.removeItem(atPath: temp)
            throw DatasetError("\(out): generation failed: \(FileProblem.text(failure))")
        }
        var described: [String: String] = [:]
        for (c, s) in styles.enumerated() { described[className(c)] = s.description }
        let manifest = SynthClassificationManifest(options: o, train: o.classes * o.imagesPerClass,
                                                   val: o.classes * o.valPerClass, classes: described)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: temp + "/manifest.json"))
        guard rename(temp, out) == 0 else {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(atPath: temp)
            throw DatasetError("\(out): cannot move the finished data set into place: \(reason)")
        }
        return manifest
    }
}
