// SynthReID: a deterministic procedural multi-camera, multi-domain pedestrian data set,
// written as JPEG with a JSON manifest in a layout the data set readers detect (see
// SynthReID+Layout), so that the readers that serve real data serve it too. Identities
// are split into training and test halves; each test identity gives one query per camera
// it appears in, the rest go to the gallery with distractors (pid 0) and junk boxes
// (pid -1), as in Market-1501.
import Foundation
import Tensors

public struct SynthOptions: Codable, Hashable, Sendable {
    public var domain = "mall"
    public var ids = 100
    public var cameras = 6
    public var imagesPerId = 12
    public var seed: UInt64 = 1
    public var height = 128
    public var width = 64
    /// Share of identities that are look-alikes of another identity of the same split.
    public var lookAlikes = 0.3
    /// Share of identities used for training (the rest are test identities).
    public var trainShare = 0.5
    /// Distractors (pid 0) and junk (pid -1) added to the gallery, as shares of its size.
    public var distractors = 0.1
    public var junk = 0.04

    public init() {}

    public func validate() throws {
        _ = try SynthDomain.named(domain)
        func need(_ ok: Bool, _ what: String) throws { if !ok { throw DatasetError("synth: \(what)") } }
        try need(ids >= 4 && ids <= 9999, "--ids must be in 4...9999, got \(ids)")
        try need(cameras >= 2 && cameras <= 9, "--cameras must be in 2...9, got \(cameras)")
        try need((4...1000).contains(imagesPerId), "--images-per-id must be in 4...1000, got \(imagesPerId)")
        try need(ImageLimits.accepts(height, minimum: 32) && ImageLimits.accepts(width, minimum: 16),
                 "the image size must be from 32x16 to \(ImageLimits.maxSide)x\(ImageLimits.maxSide), got \(height)x\(width)")
        try need((0...0.9).contains(lookAlikes), "look_alikes (--look-alikes) must be in 0...0.9, got \(lookAlikes)")
        try need((0.1...0.9).contains(trainShare), "train_share must be in 0.1...0.9, got \(trainShare)")
        try need((0...1).contains(distractors), "distractors must be in 0...1, got \(distractors)")
        try need((0...1).contains(junk), "junk must be in 0...1, got \(junk)")
    }

    var trainIds: Int { max(2, min(ids - 2, Int((Double(ids) * trainShare).rounded()))) }
}

public struct SynthManifest: Codable, Sendable {
    /// The generator's version: images change with it (2: drawn from `SeededRandom`).
    public var generator = SynthManifest.version
    public static let version = "SynthReID 2"
    /// Always true: results on this data are on synthetic images.
    public var synthetic = true
    public var options: SynthOptions
    public var train: Int
    public var query: Int
    public var gallery: Int
    public var distractors: Int
    public var junk: Int
    public var trainIds: Int
    public var testIds: Int
    public var cameras: [CameraStyle]
    /// The folder layout: `market1501`, or `custom` (CSV lists) for sets beyond Market-1501's
    /// ranges; nil in manifests written before the custom layout existed, all Market-1501.
    public var layout: DatasetKind?
    /// Why the set is in the custom layout ("more than 6 cameras"); nil in the Market-1501 layout.
    public var layoutReason: String?
}

public enum SynthReID {
    struct Job {
        let split: Split
        /// The file name, Market-style in every layout: `0002_c1s1_000451_03.jpg`.
        let name: String
        /// The pid and 0-based camera the file name gives (and the CSV lists).
        let pid: Int
        let camid: Int
        let person: SynthPerson
        /// The camera style the image is drawn with (a distractor's differs from its camid).
        let camera: Int
        /// The keys of the image's random stream after the seed: (purpose, numbers).
        let key: [Int]
        let junk: Bool
    }

    /// Every image of a data set in the order it is planned, with the split sizes.
    struct Plan {
        var jobs: [Job] = []
        var train = 0, query = 0, gallery = 0
        var distractors = 0, junk = 0
    }

    /// Market-style file names (`0002_c1s1_000451_03.jpg`) with a frame number that grows
    /// with every name handed out, so names depend on the order images are planned in.
    struct FileNamer {
        var frame = 0

        mutating func name(_ pid: Int, _ cam: Int, _ k: Int) -> String {
            frame += 37
            return (pid < 0 ? "-1" : String(format: "%04d", pid)) + String(format: "_c%ds1_%06d_%02d.jpg", cam + 1, frame, k)
        }
    }

    /// The appearance of every identity 1...ids (index 0 unused), look-alikes included.
    static func people(_ o: SynthOptions) -> [SynthPerson] {
        var out: [SynthPerson] = []
        var first = SeededRandom(seed: o.seed, keys: 1, 0)
        out.append(SynthPerson.random(&first))
        let trainIds = o.trainIds
        for pid in 1...o.ids {
            var rng = SeededRandom(seed: o.seed, keys: 1, pid)
            let splitStart = pid <= trainIds ? 1 : trainIds + 1
            if pid - splitStart >= 1 && rng.chance(o.lookAlikes) {
                let parent = pid - 1 - rng.int(min(6, pid - splitStart))
                out.append(out[parent].lookAlike(&rng))
            } else {
                out.append(SynthPerson.random(&rng))
            }
        }
        return out
    }

    /// Writes the data set into `out` (through a temporary folder renamed at the end).
    /// When `out` already holds a data set made with the same options and generator version
    /// it is kept as it is.
    /// `stop` is asked between images: a reason (a signal's name) ends the generation,
    /// and nothing of it is kept.
    @discardableResult
    public static func generate(_ o: SynthOptions, out: String, log: (String) -> Void = { _ in },
                                stop: @escaping @Sendable () -> String? = { nil }) throws -> SynthManifest {
        try o.validate()
        let layout = o.layout
        if let existing = try existingSet(o, out: out) {
            log("\(out): already holds this SynthReID data set; kept")
            return existing
        }
        let domain = try SynthDomain.named(o.domain)
        let cameras = (0..<o.cameras).map { domain.camera($0, seed: o.seed) }
        let plan = plan(o, people: people(o))
        let fm = FileManager.default
        let temp = try SynthFolders.makeTemporary(for: out, folders: Split.allCases.map { folder($0, layout) })
        let note = o.customLayoutReason.map { " (custom layout: \($0); listed in train.csv, query.csv, gallery.csv)" } ?? ""
        log("SynthReID (synthetic): rendering \(plan.jobs.count) images of domain \(o.domain) into \(out)\(note)")
        if let failure = render(plan.jobs, cameras: cameras, o, layout: layout, into: temp, stop: stop) {
            try? fm.removeItem(atPath: temp)
            throw DatasetError("\(out): generation failed: \(FileProblem.text(failure))")
        }
        if layout == .custom { try writeLists(plan.jobs, into: temp) }
        let manifest = SynthManifest(options: o, train: plan.train, query: plan.query,
                                     gallery: plan.gallery + plan.distractors + plan.junk, distractors: plan.distractors,
                                     junk: plan.junk, trainIds: o.trainIds, testIds: o.ids - o.trainIds, cameras: cameras,
                                     layout: layout, layoutReason: o.customLayoutReason)
        try finish(temp, out: out, manifest: manifest)
        return manifest
    }

    /// The manifest of the data set already at `out` when it was made with options `o` by
    /// this generator version, in the layout it writes now; nil when `out` does not exist;
    /// throws when `out` holds anything else.
    static func existingSet(_ o: SynthOptions, out: String) throws -> SynthManifest? {
        let fm = FileManager.default
        guard fm.fileExists(atPath: out) else { return nil }
        if let data = fm.contents(atPath: out + "/manifest.json"),
           let existing = try? JSONDecoder().decode(SynthManifest.self, from: data), existing.options == o,
           existing.generator == SynthManifest.version {
            let layout = existing.layout ?? .market1501
            if layout == o.layout { return existing }
            let why = o.customLayoutReason.map { " (\($0))" } ?? ""
            throw DatasetError("\(out): holds this SynthReID data set in the \(layout.rawValue) layout, but it is now "
                               + "written in the \(o.layout.rawValue) layout\(why); remove it to write it again")
        }
        throw DatasetError("\(out): exists and is not a data set made by \(SynthManifest.version) with these options; "
                           + "choose another folder (data.root in a recipe, --out for reidprune synth) or remove it")
    }

    /// Every image of the data set: each identity's images, then distractors, then junk.
    static func plan(_ o: SynthOptions, people: [SynthPerson]) -> Plan {
        var plan = Plan()
        var namer = FileNamer()
        for pid in 1...o.ids { planIdentity(pid, person: people[pid], o, &namer, into: &plan) }
        plan.distractors = Int((Double(plan.gallery) * o.distractors).rounded())
        plan.junk = Int((Double(plan.gallery) * o.junk).rounded())
        for i in 0..<plan.distractors { plan.jobs.append(distractor(i, o, &namer)) }
        for i in 0..<plan.junk { plan.jobs.append(junk(i, people: people, o, &namer)) }
        return plan
    }

    /// The images of identity `pid`: a few cameras, at least two images in each. A training
    /// identity's go to the training split; a test identity gives one query per camera and
    /// the rest of that camera's images to the gallery.
    static func planIdentity(_ pid: Int, person: SynthPerson, _ o: SynthOptions, _ namer: inout FileNamer,
                             into plan: inout Plan) {
        var rng = SeededRandom(seed: o.seed, keys: 6, pid)
        let visits = min(o.cameras, max(2, min(o.imagesPerId / 2, 2 + rng.int(o.cameras - 1))))
        var cams = Array(0..<o.cameras)
        for i in stride(from: cams.count - 1, to: 0, by: -1) { cams.swapAt(i, rng.int(i + 1)) }
        cams = Array(cams.prefix(visits))
        var perCam = [Int](repeating: 2, count: visits)
        for _ in 0..<max(0, o.imagesPerId - 2 * visits) { perCam[rng.int(visits)] += 1 }
        let isTrain = pid <= o.trainIds
        var k = 0
        for (ci, cam) in cams.enumerated() {
            for j in 0..<perCam[ci] {
                k += 1
                let split: Split = isTrain ? .train : (j == 0 ? .query : .gallery)
                if isTrain { plan.train += 1 } else if j == 0 { plan.query += 1 } else { plan.gallery += 1 }
                plan.jobs.append(Job(split: split, name: namer.name(pid, cam, k), pid: pid, camid: cam, person: person,
                                     camera: cam, key: [3, pid, k], junk: false))
            }
        }
    }

    /// Distractor `i`: a gallery image (pid 0) of someone who is no identity of the set.
    static func distractor(_ i: Int, _ o: SynthOptions, _ namer: inout FileNamer) -> Job {
        var rng = SeededRandom(seed: o.seed, keys: 4, i)
        let camid = rng.int(o.cameras)
        let name = namer.name(0, camid, i % 100)
        let person = SynthPerson.random(&rng)
        return Job(split: .gallery, name: name, pid: 0, camid: camid, person: person, camera: rng.int(o.cameras),
                   key: [4, i, 0], junk: false)
    }

    /// Junk box `i`: a bad detection (pid -1) of a test identity in the gallery.
    static func junk(_ i: Int, people: [SynthPerson], _ o: SynthOptions, _ namer: inout FileNamer) -> Job {
        var rng = SeededRandom(seed: o.seed, keys: 5, i)
        let cam = rng.int(o.cameras)
        return Job(split: .gallery, name: namer.name(-1, cam, i % 100), pid: -1, camid: cam,
                   person: people[o.trainIds + 1 + rng.int(o.ids - o.trainIds)], camera: cam, key: [5, i, 0], junk: true)
    }

    /// Renders and writes every job below `root` on all cores; the first error, if any.
    static func render(_ jobs: [Job], cameras: [CameraStyle], _ o: SynthOptions, layout: DatasetKind,
                       into root: String, stop: @Sendable () -> String? = { nil }) -> Error? {
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        nonisolated(unsafe) var failure: Error?
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let codec = ImageCodec()
            var i = w
            while i < jobs.count {
                let job = jobs[i]
                do {
                    if let why = stop() { throw DatasetError("stopped by \(why); nothing was kept") }
                    var rng = SeededRandom(seed: o.seed, keys: job.key)
                    let image = SynthRenderer.render(person: job.person, camera: cameras[job.camera], height: o.height,
                                                     width: o.width, rng: &rng, junk: job.junk)
                    let q = cameras[job.camera].qualityRange
                    let data = try codec.encodeJPEG(image, quality: q[0] + rng.int(q[1] - q[0] + 1))
                    try data.write(to: URL(fileURLWithPath: "\(root)/\(folder(job.split, layout))/\(job.name)"))
                } catch {
                    lock.lock()
                    if failure == nil { failure = error }
                    lock.unlock()
                    return
                }
                i += workers
            }
        }
        return failure
    }

    /// Writes the manifest into `temp` and renames `temp` to `out`.
    static func finish(_ temp: String, out: String, manifest: SynthManifest) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: temp + "/manifest.json"))
        guard rename(temp, out) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temp)
            throw DatasetError("\(out): cannot move the finished data set into place: \(reason)")
        }
    }

    /// A grid for a person to look at: rows are identities, columns cameras, the first
    /// block of columns in `o.domain` and the second in `other` (the same people).
    public static func preview(_ o: SynthOptions, other: String, rows: Int = 8) throws -> RGBImage {
        try o.validate()
        let domains = [try SynthDomain.named(o.domain), try SynthDomain.named(other)]
        let people = people(o)
        let gap = 4
        let cols = o.cameras * 2
        let gw = cols * o.width + (cols - 1) * 2 + gap * 3, gh = rows * o.height + (rows - 1) * 2
        var grid = RGBImage(width: gw, height: gh, fill: (255, 255, 255))
        for r in 0..<min(rows, o.ids) {
            let pid = o.trainIds + 1 + r % max(1, o.ids - o.trainIds)
            for (d, domain) in domains.enumerated() {
                for cam in 0..<o.cameras {
                    var rng = SeededRandom(seed: o.seed, keys: 7, pid, d * 100 + cam)
                    let image = SynthRenderer.render(person: people[pid], camera: domain.camera(cam, seed: o.seed),
                                                     height: o.height, width: o.width, rng: &rng)
                    let x0 = (d * o.cameras + cam) * (o.width + 2) + d * gap * 3, y0 = r * (o.height + 2)
                    for y in 0..<o.height {
                        for x in 0..<o.width {
                            let s = (y * o.width + x) * 3, t = ((y0 + y) * gw + x0 + x) * 3
                            grid.pixels[t] = image.pixels[s]
                            grid.pixels[t + 1] = image.pixels[s + 1]
                            grid.pixels[t + 2] = image.pixels[s + 2]
                        }
                    }
                }
            }
        }
        return grid
    }
}
