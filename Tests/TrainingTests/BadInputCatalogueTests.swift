// The catalogue of bad input and faults, each case run through the built executable on
// tiny inputs: the exit code is non-zero, the error is one line naming the file, key or
// value, and nothing that was there is overwritten (nor anything half-written left).
// One table per group: data, recipes, weights, features, visrank, resume, faults.
import Foundation
import NN
import Tensors
import TestSupport
import XCTest

final class BadInputCatalogueTests: XCTestCase {
    /// A case: command-line words (after the executable; `$D` is the case folder), what
    /// the error must say, and files (relative to `$D`) that must be left as they were.
    struct Case {
        var name: String
        var args: [String]
        var message: String
        var untouched: [String] = []
        var user: String?
    }

    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-catalogue-\(getpid())").path
    static var executable: String { ChildProcess.reidprune }

    /// Shared inputs, made once: a tiny SynthReID set, a recipe and a trained run. The
    /// recipe's learning rate jumps a hundred-million-fold after epoch 1, so resuming the
    /// one-epoch run for more epochs diverges.
    static let shared: Result<Void, Error> = Result {
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try recipe.write(toFile: root + "/tiny.yaml", atomically: true, encoding: .utf8)
        let (status, out) = try run(["train", "--config", root + "/tiny.yaml", "run.dir=\(root)/trained"])
        guard status == 0 else { throw CatalogueError("the reference run failed:\n\(out)") }
    }

    static let recipe = """
        model: {arch: resnet18, base_width: 4, last_stride: 1}
        data:
          root: \(root)/data
          synth: {domain: mall, ids: 30, cameras: 2, images_per_id: 6, seed: 4, height: 64, width: 32}
          height: 64
          width: 32
          identities: 4
          instances: 2
          workers: 1
        train: {epochs: 1, optimizer: sgd, lr: 0.01, warmup_epochs: 0, schedule: multistep, milestones: [1], gamma: 1.0e+8,
                progress: false}
        eval: {batch_size: 32}

        """

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
        super.tearDown()
    }

    struct CatalogueError: Error, CustomStringConvertible {
        let description: String
        init(_ s: String) { description = s }
    }

    /// Runs reidprune with `args` (as `user` when given); status and combined output.
    @discardableResult
    static func run(_ args: [String], user: String? = nil) throws -> (Int32, String) {
        try ChildProcess.run((user.map { ["/usr/sbin/runuser", "-u", $0, "--"] } ?? []) + [executable] + args)
    }

    /// A fresh folder for one case, with a copy of the trained run in `run/`.
    func caseFolder(_ name: String) throws -> String {
        try Self.shared.get()
        let d = Self.root + "/" + name.replacingOccurrences(of: " ", with: "-")
        try? FileManager.default.removeItem(atPath: d)
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root + "/trained", toPath: d + "/run")
        return d
    }

    func contents(_ d: String, _ files: [String]) -> [Data?] {
        files.map { FileManager.default.contents(atPath: d + "/" + $0) }
    }

    /// Runs every case: non-zero exit, the message on one "Error:" line, files untouched.
    func check(_ cases: [Case], prepare: (String, String) throws -> Void = { _, _ in }) throws {
        for c in cases {
            let d = try caseFolder(c.name)
            try prepare(c.name, d)
            let before = contents(d, c.untouched)
            let args = c.args.map { $0.replacingOccurrences(of: "$D", with: d).replacingOccurrences(of: "$R", with: Self.root) }
            let (status, out) = try Self.run(args, user: c.user)
            XCTAssertNotEqual(status, 0, "\(c.name): exit 0\n\(out)")
            XCTAssertFalse(out.contains("Fatal error") || out.contains("Stack dump"), "\(c.name): crashed\n\(out)")
            let errorLines = out.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
            XCTAssertEqual(errorLines.count, 1, "\(c.name): expected one error line\n\(out)")
            let message = c.message.replacingOccurrences(of: "$D", with: d).replacingOccurrences(of: "$R", with: Self.root)
            XCTAssertTrue(errorLines.first?.contains(message) ?? false,
                          "\(c.name): expected '\(c.message)' in\n\(out)")
            XCTAssertEqual(contents(d, c.untouched), before, "\(c.name): a file was changed")
            let leftovers = (FileManager.default.enumerator(atPath: d)?.allObjects as? [String] ?? []).filter { $0.contains(".tmp-") }
            XCTAssertEqual(leftovers, [], "\(c.name): temporary files left")
        }
    }

    static let runFiles = ["run/config.yaml", "run/checkpoint.safetensors", "run/metrics.jsonl", "run/results.json",
                           "run/model.safetensors"]

    func testData() throws {
        let train = ["train", "--config", "$D/r.yaml", "run.dir=$D/out", "train.max_iterations=1"]
        try check([
            Case(name: "data corrupt image", args: train + ["data.root=$D/set"], message: "not a JPEG or PNG image"),
            Case(name: "data truncated image", args: train + ["data.root=$D/set"], message: "truncated"),
            Case(name: "data bomb", args: train + ["data.root=$D/set"], message: "20000x20000"),
            Case(name: "data unknown layout", args: train + ["data.root=$D/empty"], message: "data.root: $D/empty"),
            Case(name: "data missing folder", args: train + ["data.root=$D/none"], message: "data.root: $D/none: no such folder"),
        ]) { name, d in
            try Self.recipeWithoutSynth.write(toFile: d + "/r.yaml", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: d + "/empty", withIntermediateDirectories: true)
            guard name != "data unknown layout" && name != "data missing folder" else { return }
            try FileManager.default.copyItem(atPath: Self.root + "/data", toPath: d + "/set")
            // A query image: the final evaluation reads every one.
            let query = d + "/set/query"
            let victim = query + "/" + (try FileManager.default.contentsOfDirectory(atPath: query).sorted()[0])
            var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
            switch name {
            case "data corrupt image": bytes = Data(repeating: 0x41, count: 200)
            case "data truncated image": bytes = bytes.prefix(bytes.count / 2)
            default: Self.claimSize(&bytes, width: 20000, height: 20000)
            }
            try bytes.write(to: URL(fileURLWithPath: victim))
        }
    }

    /// `data.skip_corrupt` replaces an unreadable training image and says how many it replaced.
    func testSkippedImagesAreCounted() throws {
        let d = try caseFolder("skip corrupt")
        try Self.recipeWithoutSynth.write(toFile: d + "/r.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Self.root + "/data", toPath: d + "/set")
        let train = try FileManager.default.contentsOfDirectory(atPath: d + "/set/bounding_box_train").sorted()
        try Data(repeating: 0x41, count: 100).write(to: URL(fileURLWithPath: d + "/set/bounding_box_train/" + train[0]))
        let (status, out) = try Self.run(["train", "--config", d + "/r.yaml", "run.dir=\(d)/out", "data.root=\(d)/set",
                                          "data.skip_corrupt=true"])
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("warning: skipping \(d)/set/bounding_box_train/\(train[0])"), out)
        let line = try XCTUnwrap(out.split(separator: "\n").first { $0.hasPrefix("trained ") }, out)
        XCTAssertTrue(line.contains("unreadable training image(s) (data.skip_corrupt)"), String(line))
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/out/results.json")))
        XCTAssertGreaterThanOrEqual((results as? [String: Any])?["skippedImages"] as? Int ?? 0, 1)
    }

    /// The recipe reading an existing data set (data.root is given per case).
    static var recipeWithoutSynth: String {
        recipe.split(separator: "\n").filter { !$0.contains("synth:") }.joined(separator: "\n") + "\n"
    }

    /// Patches a baseline JPEG's frame header (SOF0) to claim another size.
    static func claimSize(_ jpeg: inout Data, width: Int, height: Int) {
        var i = 2
        while i + 9 < jpeg.count {
            if jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2) {
                jpeg[i + 5] = UInt8(height >> 8); jpeg[i + 6] = UInt8(height & 255)
                jpeg[i + 7] = UInt8(width >> 8); jpeg[i + 8] = UInt8(width & 255)
                return
            }
            i += 1
        }
    }

    func testRecipes() throws {
        let train = ["train", "--config", "$D/r.yaml", "run.dir=$D/run"]
        try check([
            Case(name: "recipe malformed", args: train, message: "$D/r.yaml: malformed YAML", untouched: Self.runFiles),
            Case(name: "recipe unknown key", args: train, message: "unknown key 'train.epochz'", untouched: Self.runFiles),
            Case(name: "recipe wrong type", args: train, message: "key 'train.epochs': expected an integer",
                 untouched: Self.runFiles),
            Case(name: "recipe duplicate key", args: train, message: "key 'train' appears twice", untouched: Self.runFiles),
            Case(name: "recipe section override", args: train + ["train=5"], message: "'train' is a section",
                 untouched: Self.runFiles),
            Case(name: "recipe override blamed", args: train + ["train.lr=fast"], message: "override 'train.lr=fast'",
                 untouched: Self.runFiles),
            Case(name: "recipe image size", args: train + ["data.height=0"], message: "'data.height=0': must be at least 32",
                 untouched: Self.runFiles),
            Case(name: "recipe missing file", args: ["train", "--config", "$D/none.yaml"], message: "$D/none.yaml: cannot read"),
            Case(name: "recipe precision", args: train + ["train.precision=fp16"],
                 message: "override 'train.precision=fp16'", untouched: Self.runFiles),
            Case(name: "bench precision", args: ["bench", "infer", "--arch", "resnet18", "--precision", "half"],
                 message: "--precision must be fp32 or bf16, got 'half'"),
            Case(name: "extract precision", args: ["extract", "--weights", "$D/run/model.safetensors", "--data", "$D",
                                                   "--split", "query", "--out", "$D/q.safetensors", "--precision", "fp8"],
                 message: "--precision must be fp32 or bf16, got 'fp8'"),
        ]) { name, d in
            var text = Self.recipe
            switch name {
            case "recipe malformed": text += "train: {epochs: 1\n"
            case "recipe unknown key": text = text.replacingOccurrences(of: "train: {", with: "train: {epochz: 2, ")
            case "recipe wrong type": text = text.replacingOccurrences(of: "epochs: 1", with: "epochs: many")
            case "recipe duplicate key": text += "train: {lr: 0.1}\n"
            default: break
            }
            try text.write(toFile: d + "/r.yaml", atomically: true, encoding: .utf8)
        }
    }

    func testWeights() throws {
        let eval = ["eval", "--config", "$R/tiny.yaml", "--weights"]
        try check([
            Case(name: "weights folder", args: eval + ["$D/run"], message: "$D/run: cannot read: is a folder, not a file"),
            Case(name: "weights missing", args: eval + ["$D/none.safetensors", "data.root=$D/gen"],
                 message: "$D/none.safetensors: cannot read: no such file"),
            Case(name: "weights truncated", args: eval + ["$D/cut.safetensors"], message: "$D/cut.safetensors"),
            Case(name: "weights wrong arch", args: eval + ["$D/run/model.safetensors", "model.arch=resnet34"],
                 message: "holds a (possibly pruned) resnet18, not the resnet34"),
            Case(name: "weights nan", args: eval + ["$D/nan.safetensors"],
                 message: "$D/nan.safetensors: non-finite values in 1 tensor(s), nothing was loaded: conv1.weight"),
            Case(name: "weights nan as pretrained",
                 args: ["train", "--config", "$R/tiny.yaml", "run.dir=$D/out", "model.pretrained=$D/nan.safetensors"],
                 message: "non-finite values in 1 tensor(s)"),
            Case(name: "weights no architecture", args: eval + ["$D/bare.safetensors"],
                 message: "this needs a model written by reidprune train or prune"),
            Case(name: "weights pretrained wrong arch",
                 args: ["train", "--config", "$R/tiny.yaml", "run.dir=$D/out", "model.arch=resnet34",
                        "model.pretrained=$D/run/model.safetensors"],
                 message: "model.pretrained '$D/run/model.safetensors' holds a (possibly pruned) resnet18"),
            Case(name: "weights pretrained other base width",
                 args: ["train", "--config", "$R/tiny.yaml", "run.dir=$D/out", "model.base_width=8",
                        "model.pretrained=$D/run/model.safetensors"],
                 message: "model.pretrained '$D/run/model.safetensors' holds a resnet18 of base width 4, not the "
                    + "model.base_width 8 of the recipe"),
        ]) { name, d in
            let model = try Data(contentsOf: URL(fileURLWithPath: d + "/run/model.safetensors"))
            try model.prefix(model.count - 100).write(to: URL(fileURLWithPath: d + "/cut.safetensors"))
            try Self.rewriteModel(d + "/run/model.safetensors", to: d + "/nan.safetensors") { name, v in
                if name == "conv1.weight" { v[0] = .nan }
            }
            var bare = SafetensorsWriter()
            bare.add("conv1.weight", floats: [Float](repeating: 0, count: 4 * 3 * 7 * 7), shape: [4, 3, 7, 7])
            try bare.write(to: d + "/bare.safetensors")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.root + "/weights-missing/gen"),
                       "eval generated its synthetic set before reading --weights")
    }

    func testLatencyPruning() throws {
        let prune = ["prune", "--config", "$R/tiny.yaml", "--weights", "$D/run/model.safetensors", "--out", "$D/p.safetensors",
                     "--criterion", "l1"]
        try check([
            Case(name: "prune two stops", args: prune + ["--target-latency", "0.5", "--target-flops", "0.5"],
                 message: "--target-latency and --target-flops: give one stop, not both", untouched: ["p.safetensors"]),
            Case(name: "prune round_to word", args: prune + ["--round-to", "sixteen"],
                 message: "--round-to sixteen: expected a positive integer or auto, got 'sixteen' (see --help)",
                 untouched: ["p.safetensors"]),
            Case(name: "prune latency cache corrupt",
                 args: prune + ["--target-latency", "0.5", "--latency-cache", "$D/cache.json"],
                 message: "latency cache $D/cache.json: not a reidprune latency cache (format 1); delete the file to rebuild it",
                 untouched: ["cache.json", "p.safetensors"]),
        ]) { _, d in
            try "{\"format\": 1, \"machines\": [".write(toFile: d + "/cache.json", atomically: true, encoding: .utf8)
        }
    }

    func testFeatures() throws {
        let evaluate = ["evaluate", "--query", "$D/q.safetensors", "--gallery"]
        try check([
            Case(name: "features missing tensor", args: evaluate + ["$D/missing.safetensors"], message: "missing tensor 'camids'"),
            Case(name: "features nan", args: evaluate + ["$D/nan.safetensors"], message: "NaN"),
            Case(name: "features sizes", args: evaluate + ["$D/wide.safetensors"], message: "3 dimensions but gallery features 4"),
            Case(name: "features folder", args: evaluate + ["$D"], message: "is a folder, not a file"),
        ]) { _, d in
            try Self.writeFeatures(d + "/q.safetensors", [1, 0, 0], [1, 3])
            try Self.writeFeatures(d + "/missing.safetensors", [1, 0, 0], [1, 3], cams: nil)
            try Self.writeFeatures(d + "/nan.safetensors", [1, .nan, 0], [1, 3], cams: [1])
            try Self.writeFeatures(d + "/wide.safetensors", [1, 0, 0, 0], [1, 4], cams: [1])
        }
    }

    /// Values out of range reach no arithmetic: integers too large for their key, infinite
    /// numbers, sizes and counts below one, architectures no network has.
    func testValuesOutOfRange() throws {
        let train = ["train", "--config", "$R/tiny.yaml", "run.dir=$D/run"]
        let prune = ["prune", "--config", "$R/tiny.yaml", "--weights", "$D/run/model.safetensors", "--out", "$D/p.safetensors"]
        let export = ["export", "--weights", "$D/run/model.safetensors", "--out", "$D/m.onnx"]
        let extract = ["extract", "--weights", "$D/run/model.safetensors", "--data", "$R/data", "--split", "query",
                       "--out", "$D/q.safetensors"]
        let evaluate = ["evaluate", "--query", "$D/f.safetensors", "--gallery", "$D/f.safetensors"]
        try check([
            Case(name: "range huge integer", args: train + ["train.epochs=1e19"],
                 message: "override 'train.epochs=1e19': expected an integer", untouched: Self.runFiles),
            Case(name: "range infinite integer", args: train + ["data.height=.inf"],
                 message: "override 'data.height=.inf': expected an integer", untouched: Self.runFiles),
            Case(name: "range infinite number", args: train + ["train.lr=.inf"],
                 message: "override 'train.lr=.inf': expected a finite number", untouched: Self.runFiles),
            Case(name: "range eval batch", args: train + ["eval.batch_size=0"],
                 message: "override 'eval.batch_size=0': must be at least 1", untouched: Self.runFiles),
            Case(name: "range workers", args: train + ["data.workers=-1"],
                 message: "override 'data.workers=-1': must be at least 1", untouched: Self.runFiles),
            Case(name: "range prune batches", args: prune + ["--criterion", "entropy", "--batches", "0"],
                 message: "--batches 0: must be 1 to 1000000, got 0 (see --help)", untouched: ["p.safetensors"]),
            Case(name: "range prune plan path", args: prune + ["--criterion", "l1", "--plan", "$D/none/plan.json"],
                 message: "$D/none/plan.json: cannot write: there is no folder '$D/none'", untouched: ["p.safetensors"]),
            Case(name: "range prune plan over out", args: prune + ["--criterion", "l1", "--plan", "$D/./p.safetensors"],
                 message: "$D/./p.safetensors: cannot write: names the same file as $D/p.safetensors, which is written too",
                 untouched: ["p.safetensors"]),
            Case(name: "range weights shape overflow", args: ["export", "--weights", "$D/overflow.safetensors", "--out", "$D/m.onnx"],
                 message: "$D/overflow.safetensors: tensor 'conv1.weight' has shape [4294967296, 4294967296]: more bytes",
                 untouched: ["m.onnx"]),
            Case(name: "range weights stride", args: ["flops", "--weights", "$D/stride.safetensors"],
                 message: "$D/stride.safetensors: invalid architecture: layer2.0 has stride 0 (1 or 2)"),
            Case(name: "range weights negative variance", args: ["export", "--weights", "$D/negvar.safetensors", "--out", "$D/m.onnx"],
                 message: "$D/negvar.safetensors: 'bn1.running_var' has a negative variance -1.0 at index 0",
                 untouched: ["m.onnx"]),
            Case(name: "range export height", args: export + ["--height", "9223372036854775807"],
                 message: "--height must be 32 to 8192, got 9223372036854775807", untouched: ["m.onnx"]),
            Case(name: "range export recorded size", args: ["export", "--weights", "$D/small.safetensors", "--out", "$D/m.onnx"],
                 message: "$D/small.safetensors was trained at 24x24; the export takes at least 32x32: pass --height and --width",
                 untouched: ["m.onnx"]),
            Case(name: "range export empty out", args: ["export", "--weights", "$D/run/model.safetensors", "--out", ""],
                 message: "'': cannot write: the path is empty"),
            Case(name: "range flops width", args: ["flops", "--width", "100000"],
                 message: "--height and --width must be 32 to 8192, got 256x100000"),
            Case(name: "range extract batch", args: extract + ["--batch-size", "0"],
                 message: "--batch-size must be at least 1, got 0", untouched: ["q.safetensors"]),
            Case(name: "range extract size", args: extract + ["--height", "1", "--width", "1"],
                 message: "--height must be 32 to 8192, got 1", untouched: ["q.safetensors"]),
            Case(name: "range extract data file", args: ["extract", "--weights", "$D/run/model.safetensors", "--data",
                                                         "$D/run/config.yaml", "--split", "query", "--out", "$D/q.safetensors"],
                 message: "$D/run/config.yaml: is a file, not a data set folder", untouched: ["q.safetensors"]),
            Case(name: "range evaluate max rank", args: evaluate + ["--max-rank=-1"], message: "--max-rank must be at least 1"),
            Case(name: "range evaluate no dimensions", args: ["evaluate", "--query", "$D/d0.safetensors", "--gallery",
                                                              "$D/d0.safetensors", "--rerank"],
                 message: "the features have no dimensions (shape [1, 0])"),
            Case(name: "range bench eval", args: ["bench", "eval", "--ids", "0"], message: "--ids must be at least 2, got 0 (see --help)"),
            Case(name: "range bench allreduce", args: ["bench", "allreduce", "--repeats", "0"],
                 message: "--repeats must be at least 1, got 0 (see --help)"),
            Case(name: "range bench ops", args: ["bench", "ops", "--height", "32", "--width", "16"],
                 message: "--width must be 32 to 8192, got 16 (see --help)"),
        ]) { name, d in
            try Data("keep".utf8).write(to: URL(fileURLWithPath: d + "/p.safetensors"))
            try Data("keep".utf8).write(to: URL(fileURLWithPath: d + "/m.onnx"))
            try Data("keep".utf8).write(to: URL(fileURLWithPath: d + "/q.safetensors"))
            try Self.writeFeatures(d + "/f.safetensors", [1, 0, 0], [1, 3])
            try Self.writeFeatures(d + "/d0.safetensors", [], [1, 0])
            // A header claiming 2^64 floats over 4 bytes of data.
            let header = Data(#"{"conv1.weight":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#.utf8)
            var overflow = Data()
            for i in 0..<8 { overflow.append(UInt8((header.count >> (8 * i)) & 255)) }
            try (overflow + header + Data(count: 4)).write(to: URL(fileURLWithPath: d + "/overflow.safetensors"))
            // The trained model with layer2's stride set to 0, or bn1's first variance to -1.
            let model = d + "/run/model.safetensors"
            let trained = try SafetensorsFile(path: model)
            var arch = try JSONSerialization.jsonObject(with: Data(trained.metadata["reidprune.architecture"]!.utf8))
                as! [String: Any]
            var stages = arch["stages"] as! [[String: Any]]
            var blocks = stages[1]["blocks"] as! [[String: Any]]
            blocks[0]["stride"] = 0
            stages[1]["blocks"] = blocks
            arch["stages"] = stages
            var strideMetadata = trained.metadata
            strideMetadata["reidprune.architecture"] = String(decoding: try JSONSerialization.data(withJSONObject: arch), as: UTF8.self)
            try Self.rewriteModel(model, to: d + "/stride.safetensors", metadata: strideMetadata) { _, _ in }
            try Self.rewriteModel(model, to: d + "/negvar.safetensors") { name, v in if name == "bn1.running_var" { v[0] = -1 } }
            // Recorded as trained on 24x24 crops (a small classification model's).
            try Self.rewriteModel(model, to: d + "/small.safetensors", metadata: trained.metadata.merging(
                ModelWeights.inputSizeMetadata(height: 24, width: 24)) { _, new in new }) { _, _ in }
        }
    }

    /// Data preparation, reports and study settings: bad values are refused before any work,
    /// and a failed write leaves earlier shards and reports as they were.
    func testDataAndReportFailures() throws {
        let train = ["train", "--config", "$R/tiny.yaml", "run.dir=$D/out"]
        let report = ["report", "--height", "64", "--width", "32", "--out", "$D/rep"]
        try check([
            Case(name: "later report threads", args: report + ["--run", "a=$D/run", "--threads", "0"],
                 message: "--threads must be 1 to 1024, got 0"),
            Case(name: "later visrank size", args: ["visrank", "--weights", "$D/run/model.safetensors", "--data", "$R/data",
                                                     "--height", "0", "--width", "32"],
                 message: "--height must be 32 to 8192, got 0"),
            Case(name: "later synth images", args: ["synth", "--task", "classification", "--classes", "2",
                                                    "--images-per-class", "9223372036854775807", "--out", "$D/c"],
                 message: "--images-per-class must be in 1...100000, got 9223372036854775807"),
            Case(name: "later base width", args: train + ["model.base_width=1e18"],
                 message: "override 'model.base_width=1e18': must be 1 to 1024"),
            Case(name: "later bucket", args: train + ["distributed.bucket_mb=1e18"],
                 message: "override 'distributed.bucket_mb=1e18': must be above 0 and at most 4096"),
            Case(name: "later gamma", args: train + ["train.gamma=-1"], message: "override 'train.gamma=-1': must be positive, got -1.0"),
            Case(name: "later report bad log", args: report + ["--run", "a=$D/run"],
                 message: "$D/run/metrics.jsonl: line 2 is not a JSON object", untouched: ["rep/report.md", "rep/report.json"]),
            Case(name: "later shards unreadable image", args: ["shards", "--data", "$D/cls", "--split", "train", "--out",
                                                               "$D/sh", "--images-per-shard", "1"],
                 message: "$D/cls/train/n1/n1_0.JPEG: cannot read: is a folder, not a file",
                 untouched: ["sh/train-000000.tar", "sh/shards.json"]),
            Case(name: "later custom camid", args: ["extract", "--weights", "$D/run/model.safetensors", "--data", "$D/cu",
                                                    "--split", "query", "--out", "$D/q.safetensors", "--height", "64",
                                                    "--width", "32"],
                 message: "$D/cu/query.csv:1: camid '-1' is not an integer of at least 0"),
        ]) { name, d in
            let fm = FileManager.default
            let image = try fm.contentsOfDirectory(atPath: Self.root + "/data/query").sorted()[0]
            switch name {
            case "later report bad log":
                try fm.createDirectory(atPath: d + "/rep", withIntermediateDirectories: true)
                for f in ["report.md", "report.json"] { try Data("keep".utf8).write(to: URL(fileURLWithPath: d + "/rep/" + f)) }
                var log = try String(contentsOfFile: d + "/run/metrics.jsonl", encoding: .utf8)
                    .split(separator: "\n").map(String.init)
                log.insert("{not json", at: 1)
                try (log.joined(separator: "\n") + "\n").write(toFile: d + "/run/metrics.jsonl", atomically: true, encoding: .utf8)
            case "later shards unreadable image":
                // Two classes; the second's image is a folder. Shards from an earlier write stay.
                for c in ["n0", "n1"] {
                    for split in ["train", "val"] {
                        try fm.createDirectory(atPath: "\(d)/cls/\(split)/\(c)", withIntermediateDirectories: true)
                        try fm.copyItem(atPath: Self.root + "/data/query/" + image, toPath: "\(d)/cls/\(split)/\(c)/\(c)_0.JPEG")
                    }
                }
                try fm.createDirectory(atPath: d + "/sh", withIntermediateDirectories: true)
                for f in ["train-000000.tar", "shards.json"] { try Data("keep".utf8).write(to: URL(fileURLWithPath: d + "/sh/" + f)) }
                try fm.removeItem(atPath: d + "/cls/train/n1/n1_0.JPEG")
                try fm.createDirectory(atPath: d + "/cls/train/n1/n1_0.JPEG", withIntermediateDirectories: true)
            case "later custom camid":
                for split in ["train", "query", "gallery"] {
                    try fm.createDirectory(atPath: "\(d)/cu/\(split)", withIntermediateDirectories: true)
                    try fm.copyItem(atPath: Self.root + "/data/query/" + image, toPath: "\(d)/cu/\(split)/a.jpg")
                    let cam = split == "query" ? -1 : 0
                    try "\(split)/a.jpg,1,\(cam)\n".write(toFile: "\(d)/cu/\(split).csv", atomically: true, encoding: .utf8)
                }
            default: break
            }
        }
    }

    func testVisRank() throws {
        let features = ["visrank", "--query", "$D/q.safetensors", "--gallery", "$D/q.safetensors"]
        let weights = ["visrank", "--weights", "$D/run/model.safetensors", "--data", "$R/data", "--height", "64", "--width", "32"]
        try check([
            Case(name: "visrank features without paths", args: features + ["--data", "$R/data", "--out", "$D/out"],
                 message: "$D/q.safetensors: holds no image paths"),
            Case(name: "visrank features without data", args: features, message: "$D/q.safetensors: features files need --data"),
            Case(name: "visrank unknown identity", args: weights + ["--query-ids", "9999", "--out", "$D/out"],
                 message: "identity 9999 has no query image"),
            Case(name: "visrank missing compare", args: weights + ["--compare", "$D/none.safetensors", "--out", "$D/out"],
                 message: "$D/none.safetensors"),
            Case(name: "visrank output is a file", args: weights + ["--out", "$D/run/results.json"],
                 message: "$D/run/results.json: --out names a file", untouched: ["run/results.json"]),
        ]) { name, d in
            try Self.writeFeatures(d + "/q.safetensors", [1, 0, 0], [1, 3])
            if name != "visrank output is a file" {
                XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/out"), "\(name): nothing written before the run")
            }
        }
        for name in ["visrank features without paths", "visrank unknown identity", "visrank missing compare"] {
            let d = Self.root + "/" + name.replacingOccurrences(of: " ", with: "-")
            XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/out"), "\(name): an output folder was left")
        }
    }

    func testResume() throws {
        let train = ["train", "--config", "$R/tiny.yaml", "run.dir=$D/run"]
        try check([
            Case(name: "resume other architecture", args: train + ["model.arch=resnet34"],
                 message: "cannot resume: the recipe changed 'model.arch' (resnet18 -> resnet34)", untouched: Self.runFiles),
            Case(name: "resume other learning rate", args: train + ["train.lr=0.1"],
                 message: "'train.lr' (0.01 -> 0.1)", untouched: Self.runFiles),
            Case(name: "resume locked folder", args: train + ["train.epochs=2"],
                 message: "run.dir '$D/run' is in use by another run (host", untouched: Self.runFiles),
            Case(name: "resume finished run without checkpoint", args: train,
                 message: "run.dir '$D/run' holds a finished run (results.json) but no checkpoint.safetensors",
                 untouched: ["run/results.json", "run/metrics.jsonl", "run/model.safetensors"]),
            Case(name: "resume negative epoch", args: train,
                 message: "$D/run/checkpoint.safetensors: training state 'epoch' is -3; a checkpoint never holds that",
                 untouched: Self.runFiles),
            Case(name: "resume huge iteration", args: train,
                 message: "$D/run/checkpoint.safetensors: training state 'iteration' is 9223372036854775807; a checkpoint "
                    + "never holds that", untouched: Self.runFiles),
            Case(name: "resume fewer epochs", args: train,
                 message: "train.epochs: 1 is below the 2 epochs that $D/run/checkpoint.safetensors has trained; give at "
                    + "least 2 to go on from it, or another run.dir", untouched: Self.runFiles),
            // A checkpoint inside epoch 2 already holds some of its steps: 1 epoch cannot be the answer.
            Case(name: "resume inside the next epoch", args: train,
                 message: "train.epochs: 1 ends before epoch 2, which $D/run/checkpoint.safetensors has begun (1 of its "
                    + "batches trained); give at least 2", untouched: Self.runFiles),
            Case(name: "resume batch past the epoch", args: train,
                 message: "$D/run/checkpoint.safetensors: training state 'batchInEpoch' is 1000000000, past the ",
                 untouched: Self.runFiles),
        ]) { name, d in
            if name == "resume finished run without checkpoint" {
                try FileManager.default.removeItem(atPath: d + "/run/checkpoint.safetensors")
            }
            let edits: [String: [String: Int]] = ["resume negative epoch": ["epoch": -3], "resume fewer epochs": ["epoch": 2],
                                                  "resume inside the next epoch": ["epoch": 1, "batchInEpoch": 1],
                                                  "resume huge iteration": ["iteration": Int.max],
                                                  "resume batch past the epoch": ["epoch": 0, "batchInEpoch": 1_000_000_000]]
            if let edit = edits[name] {
                let path = d + "/run/checkpoint.safetensors"
                var metadata = try SafetensorsFile(path: path).metadata
                var state = try JSONSerialization.jsonObject(with: Data(metadata["reidprune.training_state"]!.utf8))
                    as! [String: Any]
                for (k, v) in edit { state[k] = v }
                metadata["reidprune.training_state"] = String(decoding: try JSONSerialization.data(withJSONObject: state),
                                                              as: UTF8.self)
                try Self.rewriteModel(path, to: path, metadata: metadata) { _, _ in }
            }
            guard name == "resume locked folder" else { return }
            try "host elsewhere pid 1".write(toFile: d + "/run/.lock", atomically: false, encoding: .utf8)
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            holder.arguments = [d + "/run/.lock", "sleep", "20"]
            try holder.run()
            addTeardownBlock { holder.terminate() }
            // Wait until the holder has the lock.
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                let (s, _) = try Self.runShell("flock -n \(d)/run/.lock true")
                if s != 0 { break }
                usleep(20_000)
            }
        }
    }

    func testFaults() throws {
        try check([
            Case(name: "fault run dir is a file", args: ["train", "--config", "$R/tiny.yaml", "run.dir=$D/file"],
                 message: "run.dir '$D/file' is a file, not a folder", untouched: ["file"]),
            Case(name: "fault run dir below a file", args: ["train", "--config", "$R/tiny.yaml", "run.dir=$D/file/run"],
                 message: "'$D/file' is a file, not a folder", untouched: ["file"]),
            Case(name: "fault divergence",
                 args: ["train", "--config", "$R/tiny.yaml", "run.dir=$D/run", "train.epochs=3"],
                 message: "training stopped at epoch 2, iteration", untouched: ["run/checkpoint.safetensors"]),
            Case(name: "fault unwritable run dir", args: ["train", "--config", "$R/tiny.yaml", "run.dir=$D/locked/run"],
                 message: "run.dir '$D/locked/run': cannot create the run folder: permission denied", user: "nobody"),
        ]) { _, d in
            try Data("x".utf8).write(to: URL(fileURLWithPath: d + "/file"))
            try FileManager.default.createDirectory(atPath: d + "/locked", withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: d + "/locked")
            // The unprivileged user must reach the folder, the executable and the data.
            for p in [Self.root, d] { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: p) }
        }
    }

    /// A scenario's target sets and starting files are read before its first stage trains.
    func testScenarioInputs() throws {
        let scenario = ["scenario", "--config", "$D/s.yaml"]
        try check([
            Case(name: "scenario without its section", args: ["scenario", "--config", "$R/tiny.yaml"],
                 message: "$R/tiny.yaml: has no scenario: section (nor its base)"),
            Case(name: "scenario missing target", args: scenario, message: "scenario.targets[0].root: $D/none: no such folder"),
            Case(name: "scenario missing baseline file", args: scenario,
                 message: "scenario.baseline_pretrained.resnet34: $D/missing.safetensors: cannot read: no such file"),
            Case(name: "scenario baseline file not a model", args: scenario,
                 message: "scenario.baseline_pretrained.resnet34: $D/r.yaml: "),
            Case(name: "scenario baseline without file", args: scenario,
                 message: "Error: scenario.baseline_pretrained.resnet34: the source stage starts from"),
            Case(name: "scenario baseline file with NaN", args: scenario,
                 message: "scenario.baseline_pretrained.resnet34: $D/nan.safetensors: non-finite values in 1 tensor(s)"),
            Case(name: "scenario baseline file of wrong shape", args: scenario,
                 message: "scenario.baseline_pretrained.resnet34: $D/shape.safetensors: "),
            Case(name: "scenario baseline of its own arch", args: scenario,
                 message: "scenario.baseline_pretrained.resnet18': resnet18 is the scenario's own model.arch"),
            // The key is named once (it was "model.pretrained: model.pretrained '...'").
            Case(name: "scenario pretrained of another arch",
                 args: scenario + ["scenario.source_pretrained=null", "model.pretrained=$D/nan.safetensors"],
                 message: "Error: model.pretrained '$D/nan.safetensors' holds a (possibly pruned) resnet34, not the model.arch resnet18"),
        ]) { name, d in
            let (target, baseline) = switch name {
            case "scenario missing target": ("\(d)/none", "")
            case "scenario missing baseline file": ("\(Self.root)/data", "\(d)/missing.safetensors")
            case "scenario baseline file with NaN": ("\(Self.root)/data", "\(d)/nan.safetensors")
            case "scenario baseline file of wrong shape": ("\(Self.root)/data", "\(d)/shape.safetensors")
            default: ("\(Self.root)/data", "\(d)/r.yaml")
            }
            if ["scenario baseline file with NaN", "scenario baseline file of wrong shape",
                "scenario pretrained of another arch"].contains(name) {
                // A ResNet-34 of the recipe's widths, with one NaN or (as torchvision names it) one wrong shape.
                let net = try ReIDNet(architecture: .resnet(.resnet34, baseWidth: 4), head: HeadConfig(bnneck: true))
                net.store.parameter(net.store.lookup("layer3.2.conv1.weight")!.index)[3] = .nan
                try ModelWeights.save(net, to: d + "/nan.safetensors")
                let file = try SafetensorsFile(path: d + "/nan.safetensors")
                var w = SafetensorsWriter()
                for e in file.entries {
                    if e.dtype == .I64 { w.add(e.name, int64s: try file.int64s(e.name), shape: e.shape); continue }
                    let shape = e.name == "layer3.2.conv1.weight" ? [e.shape[0], e.shape[1], 1, 9] : e.shape
                    w.add(e.name, floats: try file.floats(e.name).map { $0.isFinite ? $0 : 0 }, shape: shape)
                }
                try w.write(to: d + "/shape.safetensors")
            }
            let baselines = name == "scenario baseline without file" ? "  baselines: [resnet34]\n"
                : name == "scenario baseline of its own arch"
                ? "  baselines: [resnet18]\n  baseline_pretrained: {resnet18: \(Self.root)/trained/model.safetensors}\n"
                : baseline.isEmpty ? "" : "  baselines: [resnet34]\n  baseline_pretrained: {resnet34: \(baseline)}\n"
            try "x: 1\n".write(toFile: d + "/r.yaml", atomically: true, encoding: .utf8)
            try (Self.recipeWithoutSynth + """
                scenario:
                  source: {root: \(Self.root)/data}
                  targets: [{root: \(target)}]
                  source_epochs: 1
                  target_epochs: 1
                  retrain_epochs: 1
                  criteria: [l1]
                  scenarios: [4]
                  source_pretrained: \(Self.root)/trained/model.safetensors
                  dir: \(d)/scen

                """ + baselines).write(toFile: d + "/s.yaml", atomically: true, encoding: .utf8)
        }
        for name in ["scenario missing target", "scenario missing baseline file", "scenario baseline file not a model",
                     "scenario baseline without file", "scenario baseline file with NaN", "scenario baseline file of wrong shape",
                     "scenario baseline of its own arch"] {
            let d = Self.root + "/" + name.replacingOccurrences(of: " ", with: "-")
            XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/scen/source"), "\(name): the source stage ran")
        }
    }

    static func runShell(_ command: String) throws -> (Int32, String) { try ChildProcess.run(["/bin/sh", "-c", command]) }

    /// A copy of the model file at `path` with each float tensor passed through `change`
    /// (and other metadata when given).
    static func rewriteModel(_ path: String, to out: String, metadata: [String: String]? = nil,
                             change: (String, inout [Float]) -> Void) throws {
        let file = try SafetensorsFile(path: path)
        var w = SafetensorsWriter()
        w.metadata = metadata ?? file.metadata
        for name in file.names {
            let e = file.entry(name)!
            if e.dtype == .I64 {
                w.add(name, int64s: try file.int64s(name), shape: e.shape)
            } else {
                var v = try file.floats(name)
                change(name, &v)
                w.add(name, floats: v, shape: e.shape)
            }
        }
        try w.write(to: out)
    }

    /// A features file as `reidprune extract` writes it (pids or camids left out when nil).
    static func writeFeatures(_ path: String, _ floats: [Float], _ shape: [Int], pids: [Int64]? = [1],
                              cams: [Int64]? = [0]) throws {
        var w = SafetensorsWriter()
        w.add("features", floats: floats, shape: shape)
        if let pids { w.add("pids", int64s: pids, shape: [pids.count]) }
        if let cams { w.add("camids", int64s: cams, shape: [cams.count]) }
        try w.write(to: path)
    }
}
