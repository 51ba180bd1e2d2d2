// `reidprune bench ...`: speed measurements (release builds only give meaningful numbers).
import ArgumentParser
import Foundation
import Distributed
import NN
import Pruning
import Tensors
import ReIDData
import ReIDEval
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernel and model speed.",
        subcommands: [BenchOps.self, BenchTrain.self, BenchInfer.self, BenchEval.self, BenchAllreduce.self, BenchData.self])
}

struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Time every distinct ResNet-50 convolution (forward, backward-data, backward-weights) and sgemm 1024^3.")

    @Option(help: "Threads for oneDNN.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Activation layout: nhwc (what the trainer uses) or blocked (oneDNN's choice).")
    var layout: String = "nhwc"

    @Option(help: "Input height.") var height: Int = 256
    @Option(help: "Input width.") var width: Int = 128
    @Option(help: "Batch size.") var batch: Int = 32
    @Option(help: "Timed runs per kernel (the median is reported).") var repeats: Int = 5

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func validate() throws {
        guard ActivationFormat(rawValue: layout) != nil else {
            throw ValidationError("--layout must be nhwc or blocked, got '\(layout)'")
        }
        guard threads >= 1, height >= 32, width >= 32, batch >= 1, repeats >= 1 else {
            throw ValidationError("--threads, --batch and --repeats must be at least 1, --height and --width at least 32")
        }
    }

    func run() throws {
        let format = ActivationFormat(rawValue: layout)!
        if !json {
            print("oneDNN \(DNNL.version), \(threads) threads, layout \(layout), ResNet-50 at \(height)x\(width), batch \(batch)")
            print(pad("op", 6) + pad("pass", 18) + pad("shape", 44) + pad("uses", 6, right: true)
                  + pad("ms", 10, right: true) + pad("GFLOP/s", 10, right: true) + "  implementation")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        OpsBenchmark.run(threads: threads, format: format, height: height, width: width, batch: batch,
                         repeats: repeats) { r in
            if json {
                print(String(decoding: try! encoder.encode(r), as: UTF8.self))
            } else {
                print(pad(r.op, 6) + pad(r.pass, 18) + pad(r.shape, 44) + pad("\(r.count)", 6, right: true)
                      + pad(String(format: "%.2f", r.ms), 10, right: true)
                      + pad(String(format: "%.1f", r.gflops), 10, right: true) + "  " + r.implementation)
            }
            fflush(nil)
        }
    }
}

/// Pads or truncates `s` to `n` columns.
func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
    if s.count >= n { return String(s.prefix(n - 1)) + " " }
    let fill = String(repeating: " ", count: n - s.count)
    return right ? fill + s : s + fill
}

/// Options shared by `bench train` and `bench infer`.
struct ModelBenchOptions: ParsableArguments {
    @Option(help: "Architecture: resnet18, resnet34, resnet50 or resnet101.") var arch: String = "resnet50"
    @Option(help: "Input height.") var height: Int = 256
    @Option(help: "Input width.") var width: Int = 128
    @Option(help: "Batch size.") var batch: Int = 32
    @Option(help: "Threads for oneDNN.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Timed steps (the median is reported).") var steps: Int = 5
    @Option(help: "Last stage stride (1 or 2).") var lastStride: Int = 2
    @Option(help: "Gradient sync across ranks: blocking or overlapped.") var sync = "blocking"
    @Option(help: "Prune the model first (L1, global ranking, inner groups) to this fraction of its FLOPs.")
    var pruneTo: Double?
    @Option(help: "With --prune-to: round kept widths up to a multiple of this.") var roundTo = 1
    @Option(help: "With --prune-to: inner (free groups) or all (residual groups too).") var pruneScope = "inner"
    @Option(help: "Measure the (possibly pruned) architecture this reidprune model file carries.") var weights: String?
    @Flag(help: "One JSON object instead of a line of text.") var json = false

    func validate() throws {
        guard ResNetArchitecture.Depth(name: arch) != nil else {
            throw ValidationError("--arch must be one of resnet18, resnet34, resnet50, resnet101; got '\(arch)'")
        }
        guard height >= 32, width >= 32, batch >= 1, threads >= 1, steps >= 1, lastStride == 1 || lastStride == 2 else {
            throw ValidationError("need --height/--width >= 32, --batch >= 1, --threads/--steps >= 1, --last-stride 1 or 2")
        }
    }

    func run(training: Bool) throws {
        if training && batch < 2 { throw ValidationError("training needs --batch of at least 2 (the triplet loss compares images)") }
        guard let mode = SyncMode(rawValue: sync) else { throw ValidationError("--sync must be blocking or overlapped") }
        var architecture = ResNetArchitecture.resnet(ResNetArchitecture.Depth(name: arch)!, lastStride: lastStride)
        if let weights { architecture = try ModelWeights.loadNet(weights).architecture }
        if let pruneTo {
            guard pruneTo > 0 && pruneTo <= 1 else { throw ValidationError("--prune-to must be in (0, 1]") }
            guard let scope = PruneScope(rawValue: pruneScope) else { throw ValidationError("--prune-scope inner|all") }
            architecture = try ModelBenchmark.prunedArchitecture(architecture, fraction: pruneTo, height: height, width: width,
                                                                 roundTo: roundTo, scope: scope)
        }
        var result: ModelBenchmarkResult?
        try Ranks.run { comm in
            guard batch % comm.size == 0 else {
                throw ValidationError("--batch \(batch) does not split over \(comm.size) ranks")
            }
            let r = try ModelBenchmark.run(training: training, architecture: architecture, archName: arch, height: height,
                                           width: width, batch: batch, threads: threads, steps: steps, comm: comm,
                                           sync: mode)
            if comm.isRoot { result = r }
        }
        guard let r = result else { return }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(r), as: UTF8.self))
        } else {
            print(String(format: "%@ %@ %dx%d batch %d, %d rank(s) x %d threads: %.2f images/s (%.1f ms/step), "
                         + "gradient sync %.1f%% of the step (%@), peak RSS %.0f MB", r.mode, r.arch, r.height, r.width,
                         r.batch, r.ranks, r.threads, r.images_per_s, r.ms_per_step, 100 * r.sync_share, r.sync,
                         r.peak_rss_mb))
        }
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Images/s of a full training step (forward, ID + triplet losses, backward, Adam) on random data.")
    @OptionGroup var options: ModelBenchOptions
    func run() throws { try options.run(training: true) }
}

struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer", abstract: "Images/s of inference (eval-mode forward to the embedding) on random data.")
    @OptionGroup var options: ModelBenchOptions
    func run() throws { try options.run(training: false) }
}

struct BenchEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Time evaluation of a random problem from features to all metrics (and re-ranking).")

    @Option(help: "Queries.") var queries = 3368
    @Option(help: "Gallery items.") var gallery = 15913
    @Option(help: "Feature size.") var dim = 2048
    @Option(help: "Identities the random labels are drawn from.") var ids = 751
    @Option(help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Noise around the identity centers (larger is harder).") var noise: Float = 4
    @Flag(help: "Also time k-reciprocal re-ranking.") var rerank = false
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        DNNL.setThreads(threads)
        var rng = SeededRandom(seed: 42)
        func rnd() -> Float { Float(rng.uniform(-0.5, 0.5)) }
        // Features near one of `ids` centers, so that the problem has structure.
        let centers = (0..<(ids * dim)).map { _ in rnd() }
        func make(_ n: Int, _ camOffset: Int) -> ExtractedFeatures {
            let t = Tensor(shape: [n, dim], layout: .nc)
            var pids: [Int] = [], cams: [Int] = []
            for i in 0..<n {
                let p = rng.int(ids)
                pids.append(p + 1)
                cams.append((i + camOffset) % 6)
                for k in 0..<dim { t[i * dim + k] = centers[p * dim + k] + noise * rnd() }
            }
            return ExtractedFeatures(features: t, pids: pids, camids: cams)
        }
        let q = make(queries, 0), g = make(gallery, 3)
        let start = Date()
        let m = try Evaluation.evaluate(query: q, gallery: g, metric: .euclidean, rerank: false, cuhk03: false)
        let seconds = Date().timeIntervalSince(start)
        var result: [String: Any] = ["queries": queries, "gallery": gallery, "dim": dim, "threads": threads,
                                     "seconds": seconds, "rank1": m.rank(1), "mAP": m.mAP,
                                     "peak_rss_mb": ModelBenchmark.peakResidentMegabytes()]
        if rerank {
            let s2 = Date()
            let r = try Evaluation.evaluate(query: q, gallery: g, metric: .euclidean, rerank: true, cuhk03: false)
            result["rerank_seconds"] = Date().timeIntervalSince(s2)
            result["rerank_rank1"] = r.rank(1)
            result["rerank_mAP"] = r.mAP
            result["peak_rss_mb"] = ModelBenchmark.peakResidentMegabytes()
        }
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "evaluation %d x %d, %d-d, %d threads: %.3f s to all metrics (rank-1 %.3f, mAP %.3f)",
                         queries, gallery, dim, threads, seconds, m.rank(1), m.mAP))
            if let rs = result["rerank_seconds"] as? Double {
                print(String(format: "re-ranking: %.1f s, peak RSS %.0f MB", rs, result["peak_rss_mb"] as! Double))
            }
        }
    }
}

struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Decode + augment images/s on one thread, for SynthReID JPEG crops at a given size.")

    @Option(help: "Crop height.") var height = 128
    @Option(help: "Crop width.") var width = 64
    @Option(help: "Images to process.") var images = 2000
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        DNNL.setThreads(1)
        // A small SynthReID set at the crop size, in memory as JPEG bytes.
        var options = SynthOptions()
        options.height = height
        options.width = width
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-benchdata-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        options.ids = 40
        options.imagesPerId = 8
        try SynthReID.generate(options, out: tmp)
        let files = try DatasetReader.read(root: tmp).train.map(\.path)
        let blobs = try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        var augment = AugmentConfig()
        augment.height = height
        augment.width = width
        let codec = ImageCodec()
        let out = UnsafeMutablePointer<Float>.allocate(capacity: height * width * 3)
        defer { out.deallocate() }
        let start = Date()
        for i in 0..<images {
            let image = try codec.decode(blobs[i % blobs.count])
            var rng = SeededRandom(seed: 1, keys: 0, i)
            Augmentation.apply(image, config: augment, rng: &rng, into: out)
        }
        let rate = Double(images) / Date().timeIntervalSince(start)
        if json {
            print("{\"bench\":\"data\",\"height\":\(height),\"width\":\(width),\"images_per_s_per_core\":\(rate)}")
        } else {
            print(String(format: "decode + augment %dx%d JPEG crops (flip, pad-crop, erasing, normalize): %.0f images/s on one core",
                         height, width, rate))
        }
    }
}
