// `reidprune visrank`: ranked-result galleries — per chosen query a picture of its top-k
// gallery matches (green: same identity, red: another) and index.html, from weights
// (features extracted on every rank, the root writes) or from `extract`'s feature files;
// `--compare` puts a second model's rank lists beside the first's.
import ArgumentParser
import Foundation
import ReIDData
import Tensors
import Training

struct VisRankCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visrank", abstract: "Pictures of each query's top-k gallery matches, worst queries first.")

    @Option(help: "Model weights written by reidprune.") var weights: String?
    @Option(help: "Data set folder (with --query/--gallery: the folder their image paths are relative to).") var data: String?
    @Option(help: "Query features written by `reidprune extract` (instead of --weights).") var query: String?
    @Option(help: "Gallery features written by `reidprune extract`.") var gallery: String?
    @Option(help: "A second model (a pruned one, say) of the same data: rank lists side by side.") var compare: String?
    @Option(help: "Gallery matches per query.") var topk = 10
    @Option(help: "How many queries (a seeded sample; with --compare the most changed).") var queries = 20
    @Option(parsing: .upToNextOption, help: "Show the queries of these identities instead.") var queryIds: [Int] = []
    @Option(help: "Seed of the query sample.") var seed: UInt64 = 0
    @Option(help: "Output folder.") var out = "visrank"
    @Option(help: "Image format: jpg or png.") var format = "jpg"
    @Option(help: "euclidean or cosine.") var metric = "euclidean"
    @Flag(help: "L2-normalize features first.") var normalize = false
    @Flag(help: "k-reciprocal re-ranking (k1 20, k2 6, lambda 0.3), as evaluate --rerank.") var rerank = false
    @Flag(help: "Average features with the flipped images (with --weights).") var flip = false
    @Flag(help: "CUHK03-NP: the labeled boxes instead of the detected ones (with --weights; as data.cuhk03_labeled).")
    var cuhk03Labeled = false
    @Option(help: "Input height (with --weights; default: the size the model was trained at, as its file records; else 256).")
    var height: Int?
    @Option(help: "Input width (with --weights; default: as --height; else 128).") var width: Int?

    func validate() throws {
        try InputSizeOptions.validate(height: height, width: width)
        var o = VisRankOptions()
        try o.metric(named: metric)
        switch (weights, query, gallery) {
        case (_?, nil, nil): if data == nil { throw ValidationError("--weights needs --data DIR") }
        case (nil, _?, _?): if compare != nil { throw ValidationError("--compare needs --weights (feature files hold one model)") }
        default: throw ValidationError("give --weights W --data DIR, or --query Q.safetensors --gallery G.safetensors --data DIR")
        }
    }

    func run() throws {
        var o = VisRankOptions()
        (o.topk, o.queries, o.queryIDs, o.seed, o.out, o.format) = (topk, queries, queryIds, seed, out, format)
        (o.eval.normalize, o.eval.rerank, o.eval.flip) = (normalize, rerank, flip)
        o.reader.cuhk03Labeled = cuhk03Labeled
        try o.metric(named: metric)
        try Ranks.run(aloneWithoutMPI: true) { comm in
            if let w = weights, let data {
                var o = o
                (o.height, o.width) = InputSizeOptions.resolve(height: height, width: width, weights: w,
                                                               others: compare.map { [$0] } ?? [], warn: comm.isRoot)
                Ranks.rootLine(comm)(try VisRank.run(weights: w, compare: compare, data: data, options: o, comm: comm))
            } else if let q = query, let g = gallery {
                // Feature files: one process's work, done by the root.
                Ranks.rootLine(comm)(try comm.onRoot { try VisRank.run(queryFile: q, galleryFile: g, data: data, options: o) })
            }
        }
    }
}
