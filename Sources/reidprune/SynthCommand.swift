// `reidprune synth`: writes a SynthReID data set (JPEG, manifest; Market-1501 layout, or
// the custom CSV layout beyond Market's 1501 identities and 6 cameras) and optionally a
// preview grid; with `--task classification`, a synthetic ImageNet-layout stand-in set.
// Also imports ReIDData, where SynthReID lives.
import ArgumentParser
import Foundation
import ReIDData
import Tensors

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate a SynthReID data set (synthetic pedestrians, Market-1501 layout).",
        discussion: """
            Sets beyond Market-1501's ranges (more than 1501 identities or more than 6 cameras) are written \
            in the custom layout instead: train/, query/ and gallery/ listed in train.csv, query.csv and \
            gallery.csv (path,pid,camid). Both layouts are detected when the set is read.

            --task classification writes a synthetic classification set in the ImageNet layout instead \
            (train/<class>/, val/<class>/; JPEGs of 160-500 px sides; per class a shape, texture, palette \
            and background): use --classes, --images-per-class, --val-per-class, --seed and --out.
            """)

    @Option(help: "What to generate: reid (SynthReID pedestrians) or classification (an ImageNet-layout stand-in).")
    var task = "reid"
    @Option(help: "Classification: classes.") var classes = 100
    @Option(help: "Classification: training images per class.") var imagesPerClass = 100
    @Option(help: "Classification: validation images per class.") var valPerClass = 10

    @Option(help: "Domain: \(SynthDomain.names.joined(separator: ", ")).") var domain = "mall"
    @Option(help: "Identities (half train, half test).") var ids = 100
    @Option(help: "Cameras.") var cameras = 6
    @Option(help: "Images per identity.") var imagesPerId = 12
    @Option(help: "Seed: the same seed gives the same images.") var seed: UInt64 = 1
    @Option(help: "Image height.") var height = 128
    @Option(help: "Image width.") var width = 64
    @Option(help: "Share of look-alike identities.") var lookAlikes = 0.3
    @Option(help: "Output folder (Market-1501 layout, or the custom CSV layout beyond its ranges).") var out: String?
    @Option(help: "Write a preview grid (rows identities, columns cameras of this and a second domain) to this PNG.")
    var preview: String?
    @Option(help: "The second domain of the preview.") var previewDomain: String?

    /// The options as each generator checks them, so that a value out of range is a
    /// command-line error (exit 64) before anything is written.
    func validate() throws {
        do {
            switch task {
            case "reid": try reidOptions().validate()
            case "classification": try classificationOptions().validate()
            default: throw ValidationError("--task: expected reid or classification, got '\(task)'")
            }
        } catch let error as DatasetError {
            throw ValidationError(error.description)
        }
    }

    func reidOptions() -> SynthOptions {
        var o = SynthOptions()
        (o.domain, o.ids, o.cameras, o.imagesPerId, o.seed) = (domain, ids, cameras, imagesPerId, seed)
        (o.height, o.width, o.lookAlikes) = (height, width, lookAlikes)
        return o
    }

    func classificationOptions() -> SynthClassificationOptions {
        var o = SynthClassificationOptions()
        (o.classes, o.imagesPerClass, o.valPerClass, o.seed) = (classes, imagesPerClass, valPerClass, seed)
        return o
    }

    func run() throws {
        switch task {
        case "reid": try runReID()
        case "classification": try runClassification()
        default: throw ValidationError("--task: expected reid or classification, got '\(task)'")
        }
    }

    func runClassification() throws {
        guard let out else { throw ValidationError("--task classification needs --out") }
        let o = classificationOptions()
        let start = Date()
        let m = try SynthClassification.generate(o, out: out, log: Console.line)
        print(String(format: "synthetic classification set (synthetic) in %@: %d classes, train %d, val %d images, %.1f s",
                     out, o.classes, m.train, m.val, Date().timeIntervalSince(start)))
    }

    func runReID() throws {
        let o = reidOptions()
        guard out != nil || preview != nil else { throw ValidationError("give --out, --preview or both") }
        if let preview { try AtomicFile.checkCreatable([preview]) }
        if let out {
            let start = Date()
            let m = try SynthReID.generate(o, out: out, log: Console.line)
            let layout = m.layoutReason.map { ", custom layout: \($0)" } ?? ""
            print(String(format: "SynthReID (synthetic) %@: train %d, query %d, gallery %d (%d distractors, %d junk), %d ids%@, %.1f s",
                         o.domain, m.train, m.query, m.gallery, m.distractors, m.junk, o.ids, layout,
                         Date().timeIntervalSince(start)))
        }
        if let preview {
            let second = previewDomain ?? SynthDomain.names.first { $0 != domain }!
            let grid = try SynthReID.preview(o, other: second)
            try AtomicFile.write(try ImageCodec().encodePNG(grid), to: preview)
            print("preview (synthetic): \(preview): rows identities; columns cameras of \(domain), then of \(second)")
        }
    }
}
