// `reidprune bench ...`: speed measurements (release builds only give meaningful numbers).
// Also imports Benchmarks, the module that holds the measurements.
import ArgumentParser
import Benchmarks
import Foundation
import Tensors
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernel and model speed.",
        subcommands: [BenchOps.self, BenchTrain.self, BenchInfer.self, BenchEval.self, BenchAllreduce.self, BenchData.self, BenchLoader.self])
}

struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Time every distinct ResNet-50 convolution (forward, backward-data, backward-weights) and sgemm 1024^3.")

    @Option(help: "Threads for oneDNN.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Activation layout: nhwc (what the trainer uses) or blocked (oneDNN's choice).") var layout = "nhwc"
    @Option(help: "Input height.") var height: Int = 256
    @Option(help: "Input width.") var width: Int = 128
    @Option(help: "Batch size.") var batch: Int = 32
    @Option(help: "Timed runs per kernel (the median is reported).") var repeats: Int = 5
    @Option(help: "Convolution arithmetic: fp32 or bf16 (bf16 src/weights/diff_dst, f32 outputs; with --layout nhwc the f32->bf16 conversion is timed too).")
    var precision = "fp32"
    @Flag(help: "One JSON object per line instead of a table.") var json = false

    func validate() throws {
        try OptionRange.atLeast(1, [("--threads", threads), ("--batch", batch), ("--repeats", repeats)])
        try OptionRange.side(32, [("--height", height), ("--width", width)])
    }

    func run() throws {
        try KernelBenchmark.run(threads: threads, layout: layout, height: height, width: width, batch: batch,
                                repeats: repeats, json: json, precision: precision, emit: Console.line)
    }
}

/// Options shared by `bench train` and `bench infer`.
struct ModelBenchOptions: ParsableArguments {
    @Option(help: "Architecture: resnet18, resnet34, resnet50 or resnet101 (default resnet50; with --weights, it must be the file's).")
    var arch: String?
    @Option(help: "Input height.") var height: Int = 256
    @Option(help: "Input width.") var width: Int = 128
    @Option(help: "Square input: sets --height and --width (224 for ImageNet classification).") var size: Int?
    @Option(help: "reid (re-ID head; training: ID + triplet losses, Adam) or classification (fc over 1000 classes; training: cross-entropy, SGD).")
    var task = "reid"
    @Option(help: "Batch size.") var batch: Int = 32
    @Option(help: "Threads for oneDNN.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Timed steps (the median is reported).") var steps: Int = 5
    @Option(help: "Last stage stride (1 or 2).") var lastStride: Int = 2
    @Option(help: "Arithmetic of convolutions and linear layers: fp32 or bf16 (needs native bf16: AVX512_BF16 or AMX).")
    var precision = "fp32"
    @Option(help: "Prune the model first (L1, global ranking, inner groups) to this fraction of its FLOPs.")
    var pruneTo: Double?
    @Option(help: "With --prune-to: round kept widths up to a multiple of this.") var roundTo = 1
    @Option(help: "With --prune-to: inner (free groups) or all (residual groups too).") var pruneScope = "inner"
    @Option(help: "Measure the (possibly pruned) architecture this reidprune model file carries.") var weights: String?
    @Flag(help: "One JSON object instead of lines of text.") var json = false

    /// What `bench train --json` holds beside the first text line's figures.
    static let trainingJSONFields = """
        With --json, the object also holds phases_ms {forward, losses, backward, update, other}: median ms of each phase of the \
        timed steps (other: the step minus the four); conv_ms {forward, backward_data, backward_weights}: median ms \
        per step of whole convolution calls (primitive plus the weight and activation reorders around it; the stem's \
        convolution recomputed in backward counts as forward); conv_primitive_ms: the same inside the oneDNN \
        primitives alone; conv_weight_reorder_ms: the same for the weight reorders alone; conv_calls: calls per step per pass; conv_share: conv_ms's total over ms_per_step; \
        last_stride: the last stage's stride.
        """

    func validate() throws {
        guard task == "reid" || task == "classification" else { throw ValidationError("--task must be reid or classification") }
        try OptionRange.side(32, [("--size", size ?? 32), ("--height", height), ("--width", width)])
        try OptionRange.atLeast(1, [("--batch", batch), ("--threads", threads), ("--steps", steps)])
        guard lastStride == 1 || lastStride == 2 else { throw ValidationError("--last-stride must be 1 or 2, got \(lastStride)") }
        if let pruneTo, !(pruneTo > 0 && pruneTo <= 1) { throw ValidationError("--prune-to must be in (0, 1], got \(pruneTo)") }
        guard roundTo >= 1 else { throw ValidationError("--round-to must be at least 1, got \(roundTo)") }
    }

    func run(training: Bool, sync: String = "blocking", gradientPrecision: String = "fp32") throws {
        let (height, width) = size.map { ($0, $0) } ?? (self.height, self.width)
        try Ranks.run { comm in
            // A model file or option every rank reads alike: its error is printed once.
            let (architecture, name) = try comm.onEveryRank {
                try ModelSpeed.architecture(arch: arch, lastStride: lastStride, weights: weights, pruneTo: pruneTo,
                                            roundTo: roundTo, scope: pruneScope, height: height, width: width)
            }
            let r = try ModelSpeed.run(training: training, architecture: architecture, archName: name, height: height,
                                       width: width, batch: batch, threads: threads, steps: steps, sync: sync, task: task,
                                       precision: precision, gradientPrecision: gradientPrecision, comm: comm)
            if comm.isRoot { Console.line(json ? try Console.json(r) : r.text) }
        }
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Images/s of a full training step (forward, ID + triplet losses, backward, Adam) on random data.",
        discussion: ModelBenchOptions.trainingJSONFields)
    @OptionGroup var options: ModelBenchOptions
    @Option(help: "Gradient sync across ranks: blocking or overlapped.") var sync = "blocking"
    @Option(help: "What the gradient allreduce sends: fp32, or bf16 (half the bytes; gradients and partial sums rounded to bf16).")
    var gradientPrecision = "fp32"
    func run() throws { try options.run(training: true, sync: sync, gradientPrecision: gradientPrecision) }
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
    @Option(help: "Write the problem to DIR/query.safetensors and DIR/gallery.safetensors (as `reidprune evaluate` reads them) and time the evaluation from these files.")
    var files: String?
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        try OptionRange.atLeast(1, [("--queries", queries), ("--gallery", gallery), ("--dim", dim), ("--threads", threads)])
        try OptionRange.atLeast(2, [("--ids", ids)])
        guard noise.isFinite, noise >= 0 else { throw ValidationError("--noise must be a finite number >= 0, got \(noise)") }
    }

    func run() throws {
        var o = EvaluationBenchmark.Options()
        (o.queries, o.gallery, o.dim, o.ids, o.threads, o.noise, o.rerank) = (queries, gallery, dim, ids, threads, noise, rerank)
        o.files = files
        let r = try EvaluationBenchmark.run(o)
        Console.line(json ? try Console.json(r) : r.text)
    }
}

struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Decode + augment images/s on one thread: SynthReID crops (--height/--width), or the ImageNet "
            + "training transform over a folder of images (--source DIR --size 224).")

    @Option(help: "Crop height.") var height = 128
    @Option(help: "Crop width.") var width = 64
    @Option(help: "A folder of JPEG/PNG files (or a classification data set's root): measure the ImageNet training transform (RandomResizedCrop, flip, normalize) on them instead.")
    var source: String?
    @Option(help: "With --source: the crop side.") var size = 224
    @Option(help: "With --source: files read into memory (cycled over).") var files = 1000
    @Flag(help: "With --source: decode at full scale even when the crop allows DCT scaling.") var noDctScaling = false
    @Option(help: "Images to process.") var images = 2000
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        try OptionRange.side(32, [("--height", height), ("--size", size)])
        try OptionRange.side(16, [("--width", width)])
        try OptionRange.atLeast(1, [("--files", files), ("--images", images)])
    }

    func run() throws {
        if let source {
            let r = try ClassificationDataBenchmark.run(source: source, size: size, images: images, maxFiles: files,
                                                        dctScaling: !noDctScaling)
            Console.line(json ? try Console.json(r) : r.text)
            return
        }
        let r = try DataBenchmark.run(height: height, width: width, images: images)
        Console.line(json ? try Console.json(r) : r.text)
    }
}

struct BenchLoader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "Peak resident memory and images/s of the classification training loader over a data set "
            + "(image folders or shards).")

    @Option(help: "The data set's root (ImageNet layout, image folders, or shards).") var data: String
    @Option(help: "Global batch.") var batch = 256
    @Option(help: "Batches to stream (0: one whole epoch).") var batches = 0
    @Option(help: "Decoding threads.") var workers = 2
    @Option(help: "Shards: shuffle buffer size.") var shuffleBuffer = 1000
    @Option(help: "Crop side.") var size = 224
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        try OptionRange.atLeast(1, [("--batch", batch), ("--workers", workers), ("--shuffle-buffer", shuffleBuffer)])
        try OptionRange.atLeast(0, [("--batches", batches)])
        guard shuffleBuffer <= 1_000_000 else { throw ValidationError("--shuffle-buffer must be at most 1000000, got \(shuffleBuffer)") }
        try OptionRange.side(32, [("--size", size)])
    }

    func run() throws {
        let r = try ClassificationDataBenchmark.loader(data: data, batch: batch, batches: batches, workers: workers,
                                                       shuffleBuffer: shuffleBuffer, size: size)
        Console.line(json ? try Console.json(r) : r.text)
    }
}

struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Allreduce latency and bandwidth, and gradient sync time of ResNet-50/18 (run under mpirun).")

    @Option(help: "Repeats per size (the median is reported).") var repeats = 10
    @Option(help: "Largest message in MB.") var maxMb = 256
    @Flag(help: "One JSON object per line.") var json = false
    @Flag(help: "Run the collectives as training does, under the collective watchdog (non-blocking, polled).")
    var watched = false

    func validate() throws {
        try OptionRange.atLeast(1, [("--repeats", repeats), ("--max-mb", maxMb)])
    }

    func run() throws {
        try Ranks.run { comm in
            let body = {
                try AllreduceBenchmark.run(comm: comm, repeats: repeats, maxMb: maxMb, json: json, say: Ranks.rootLine(comm))
            }
            if watched { try comm.watched("benchmark", body) } else { try body() }
        }
    }
}

/// Option values against their ranges: the first one out of its range is named with its value.
enum OptionRange {
    /// An arithmetic option: fp32 or bf16.
    static func precision(_ value: String, option: String = "--precision") throws {
        guard Precision(rawValue: value) != nil else { throw ValidationError("\(option) must be fp32 or bf16, got '\(value)'") }
    }

    static func atLeast(_ minimum: Int, _ options: [(String, Int)]) throws {
        for (option, value) in options where value < minimum {
            throw ValidationError("\(option) must be at least \(minimum), got \(value)")
        }
    }

    /// Image sides: `minimum` up to ImageLimits.maxSide.
    static func side(_ minimum: Int, _ options: [(String, Int)]) throws {
        for (option, value) in options where !ImageLimits.accepts(value, minimum: minimum) {
            throw ValidationError("\(option) must be \(minimum) to \(ImageLimits.maxSide), got \(value)")
        }
    }
}
