// `reidprune evaluate`: metrics of query against gallery feature files.
// Also imports ReIDEval, which reads the feature files and computes the metrics.
import ArgumentParser
import Foundation
import ReIDEval

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate", abstract: "CMC rank-1/5/10/20, mAP and mINP of query against gallery features.")

    @Option(help: "Query features (safetensors: features, pids, camids).") var query: String
    @Option(help: "Gallery features.") var gallery: String
    @Option(help: "euclidean or cosine.") var metric = "euclidean"
    @Flag(help: "L2-normalize features first.") var normalize = false
    @Flag(help: "k-reciprocal re-ranking (k1 20, k2 6, lambda 0.3).") var rerank = false
    @Flag(help: "CUHK03 single-gallery-shot CMC (10 seeded repeats).") var cuhk03 = false
    @Option(help: "Max rank of the CMC.") var maxRank = 50
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Also print where the time went (load, distances, ranking) on standard error.") var timings = false

    func validate() throws {
        guard maxRank >= 1 else { throw ValidationError("--max-rank must be at least 1, got \(maxRank)") }
    }

    func run() throws {
        let t = Evaluation.Timings()
        let (m, synthetic) = try Evaluation.evaluate(queryFile: query, galleryFile: gallery, metric: metric,
                                                     normalize: normalize, rerank: rerank, cuhk03: cuhk03, maxRank: maxRank,
                                                     timings: t)
        Console.line(json ? try m.json(synthetic: synthetic) : m.text(synthetic: synthetic))
        if timings {
            FileHandle.standardError.write(Data(String(format: "load %.3f s, distances %.3f s, ranking %.3f s\n",
                                                       t.load, t.distances, t.ranking).utf8))
        }
    }
}
