// VisRank: ranked-result galleries (`reidprune visrank`). For chosen queries, one image
// per query (RankStrip: the query, then its top-k kept gallery images in green or red
// frames, ranked as the evaluation ranks them) and index.html with identities and
// distances, worst AP first; with a second model, both rank lists side by side, the
// queries that changed most first, and a better/worse/unchanged summary. Features come
// from weights (extracted across ranks, the root writes) or from `extract`'s files.
import Distributed
import Foundation
import NN
import ReIDData
import ReIDEval
import Tensors

public struct VisRankOptions: Sendable {
    public var topk = 10
    /// How many queries to show (a seeded sample; with a comparison, the most changed).
    public var queries = 20
    /// Show the queries of these identities instead.
    public var queryIDs: [Int] = []
    public var seed: UInt64 = 0
    public var out = "visrank"
    /// Image files: jpg or png.
    public var format = "jpg"
    public var eval = EvalConfig()
    /// Model input size (from weights).
    public var height = 256, width = 128
    public var strip = RankStrip()
    /// How the data folder is read (CUHK03-NP's labeled boxes).
    public var reader = ReaderOptions()

    public init() {}

    /// Sets the distance from its name (euclidean or cosine).
    public mutating func metric(named name: String) throws {
        guard let m = DistanceMetric(rawValue: name) else {
            throw ConfigError("--metric must be euclidean or cosine, got '\(name)'")
        }
        eval.metric = m
    }

    func check() throws {
        guard topk >= 1 else { throw ConfigError("--topk must be at least 1, got \(topk)") }
        guard queries >= 1 else { throw ConfigError("--queries must be at least 1, got \(queries)") }
        guard format == "jpg" || format == "png" else { throw ConfigError("--format must be jpg or png, got '\(format)'") }
        var folder: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &folder), !folder.boolValue {
            throw ConfigError("\(out): --out names a file; it must be a folder (new or existing)")
        }
    }
}

public enum VisRank {
    /// One model's features of the query and gallery splits: query (Q, D), gallery (G, D).
    public struct Side {
        public var name: String
        public var query, gallery: ExtractedFeatures
        public init(name: String, query: ExtractedFeatures, gallery: ExtractedFeatures) {
            self.name = name; self.query = query; self.gallery = gallery
        }
    }

    /// The images both sides share.
    public struct Images {
        /// Image files, one per query row (Q) / gallery row (G).
        public var query, gallery: [String]
        public var dataset: String
        public var synthetic: Bool
        public init(query: [String], gallery: [String], dataset: String, synthetic: Bool) {
            self.query = query; self.gallery = gallery; self.dataset = dataset; self.synthetic = synthetic
        }
    }

    /// From model weights: features extracted across ranks, pages written by the root.
    /// Returns the line to print (on the root; "" elsewhere).
    /// - Important: Collective — every rank calls this, in the same order.
    public static func run(weights: String, compare: String?, data: String, options: VisRankOptions,
                           comm: Communicator) throws -> String {
        let paths = [weights] + (compare.map { [$0] } ?? [])
        // What every rank meets alike (options, the data set, the models) is said once.
        let (dataset, synthetic, nets) = try comm.onEveryRank { () throws -> (ReIDDataset, Bool, [ReIDNet]) in
            try options.check()
            var dataset = try DatasetReader.read(root: data, options: options.reader)
            try dataset.checkNonEmpty(train: false)
            let synthetic = Experiment.markSynthetic(&dataset, root: data)
            try checkIDs(options.queryIDs, pids: dataset.query.map(\.pid), source: "\(data) (query split)")
            return (dataset, synthetic, try paths.map { try ModelWeights.loadNet($0) })
        }
        var augment = AugmentConfig()
        (augment.height, augment.width) = (options.height, options.width)
        let evaluator = DistributedEvaluator(dataset: dataset, eval: options.eval, augment: augment, comm: comm)
        var sides: [Side] = []
        for (path, net) in zip(paths, nets) {
            let f = try evaluator.features(net)
            if let f { sides.append(Side(name: shortName(path), query: f.query, gallery: f.gallery)) }
        }
        return try comm.onRoot {
            let images = Images(query: dataset.query.map(\.path), gallery: dataset.gallery.map(\.path),
                                dataset: dataset.name, synthetic: synthetic)
            return try write(sides, images: images, options: options).line
        }
    }

    /// From feature files written by `extract` (each row's image path relative to `data`).
    public static func run(queryFile: String, galleryFile: String, data: String?, options: VisRankOptions) throws -> String {
        try options.check()
        guard let data else {
            throw ConfigError("\(queryFile): features files need --data DIR, the data folder their image paths are relative to")
        }
        let q = try ExtractedFeatures(contentsOf: queryFile), g = try ExtractedFeatures(contentsOf: galleryFile)
        func paths(_ f: ExtractedFeatures, _ file: String) throws -> [String] {
            guard let p = f.paths else {
                throw ConfigError("\(file): holds no image paths (written before extract recorded them); "
                                  + "run `reidprune extract` again to visualize it")
            }
            return p.map { $0.hasPrefix("/") ? $0 : data + "/" + $0 }
        }
        var named = ReIDDataset(name: (data as NSString).lastPathComponent, train: [], query: [], gallery: [])
        let synthetic = Experiment.markSynthetic(&named, root: data)
        let images = Images(query: try paths(q, queryFile), gallery: try paths(g, galleryFile), dataset: named.name,
                            synthetic: synthetic)
        try checkIDs(options.queryIDs, pids: q.pids, source: queryFile)
        return try write([Side(name: shortName(queryFile), query: q, gallery: g)], images: images,
                         options: options).line
    }

    /// A file named by its folder and its name ("run/model.safetensors").
    static func shortName(_ path: String) -> String {
        let parts = path.split(separator: "/").suffix(2)
        return parts.joined(separator: "/")
    }

    static func checkIDs(_ ids: [Int], pids: [Int], source: String) throws {
        let present = Set(pids)
        if let missing = ids.first(where: { !present.contains($0) }) {
            throw ConfigError("--query-ids: identity \(missing) has no query image in \(source)")
        }
    }

    /// What `write` wrote: a line to print, the comparison's summary, and the pictures in
    /// page order (file names inside the output folder; per query one per side).
    public struct Outcome: Sendable {
        public var line: String
        public var summary: String?
        public var pictures: [[String]]
    }

    /// Ranks, chooses the queries, renders every strip in memory, then writes the images and
    /// index.html into `options.out`.
    public static func write(_ sides: [Side], images: Images, options: VisRankOptions) throws -> Outcome {
        precondition(!sides.isEmpty && sides.count <= 2, "VisRank.write: one or two sides")
        let dists = try sides.map { s -> DistanceMatrix in
            guard s.query.features.shape[1] == s.gallery.features.shape[1] else {
                throw EvaluationError("\(s.name): query features have \(s.query.features.shape[1]) dimensions but gallery "
                                      + "features \(s.gallery.features.shape[1])")
            }
            guard s.query.pids == sides[0].query.pids, s.gallery.pids == sides[0].gallery.pids,
                  s.query.features.shape[0] == images.query.count, s.gallery.features.shape[0] == images.gallery.count else {
                throw EvaluationError("\(s.name): its query and gallery rows do not match the images and labels")
            }
            if options.eval.normalize { DistanceMatrix.normalize(s.query.features); DistanceMatrix.normalize(s.gallery.features) }
            // The distances the evaluation uses: plain, or k-reciprocal re-ranked.
            return options.eval.rerank
                ? ReRanking.rerank(query: s.query.features, gallery: s.gallery.features, metric: options.eval.metric)
                : DistanceMatrix.compute(query: s.query.features, gallery: s.gallery.features, metric: options.eval.metric)
        }
        let f = sides[0]
        let stats = dists.map { Metrics.perQuery($0, queryPids: f.query.pids, galleryPids: f.gallery.pids,
                                                 queryCams: f.query.camids, galleryCams: f.gallery.camids) }
        guard stats[0].contains(where: { $0 != nil }) else {
            throw EvaluationError("no valid query: no query has a positive in the gallery from another camera")
        }
        let comparison = sides.count == 2 ? RankComparison(a: stats[0], b: stats[1]) : nil
        let chosen = choose(stats[0], comparison: comparison, pids: f.query.pids, options: options)
        let lists = dists.map { d in
            chosen.map { Metrics.rankList(d, query: $0, queryPids: f.query.pids, galleryPids: f.gallery.pids,
                                          queryCams: f.query.camids, galleryCams: f.gallery.camids, topk: options.topk) }
        }
        // Every picture first, so that a bad image leaves nothing half-written.
        let codec = ImageCodec()
        var files: [(String, Data)] = []
        for (s, side) in lists.enumerated() {
            for r in side {
                let query = try codec.decode(path: images.query[r.query])
                let matches = try r.matches.map { (image: try codec.decode(path: images.gallery[$0.gallery]), positive: $0.positive) }
                var strip = options.strip.render(query: query, matches: matches)
                if images.synthetic { strip = options.strip.captioned(strip, "SYNTHETIC DATA") }
                let data = options.format == "png" ? try codec.encodePNG(strip) : try codec.encodeJPEG(strip, quality: 90)
                files.append((imageName(r.query, side: s, options), data))
            }
        }
        let page = VisRankPage(sides: sides.map(\.name), lists: lists, images: images, gallery: f.gallery,
                               comparison: comparison, options: options)
        do {
            try FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true)
        } catch {
            let why = FileProblem.folder(options.out) ?? FileProblem.reason(error)
            throw ConfigError("\(options.out): cannot create the output folder: \(why)")
        }
        for (name, data) in files { try AtomicFile.write(data, to: options.out + "/" + name) }
        try page.write(to: options.out + "/index.html")
        let tag = images.synthetic ? " (synthetic data)" : ""
        let summary = comparison.map { $0.summary(a: sides[0].name, b: sides[1].name) }
        return Outcome(line: "\(options.out)/index.html: \(chosen.count) queries of \(images.dataset)\(tag), top \(options.topk)"
                           + (summary.map { "; " + $0 } ?? ""),
                       summary: summary, pictures: chosen.map { q in sides.indices.map { imageName(q, side: $0, options) } })
    }

    /// The queries to show: the chosen identities' queries, or (with a comparison) the most
    /// changed valid queries, or a seeded sample of valid queries; ordered worst AP first
    /// (with a comparison: most changed first).
    static func choose(_ stats: [(firstRank: Int, ap: Double)?], comparison: RankComparison?, pids: [Int],
                       options: VisRankOptions) -> [Int] {
        let wanted = Set(options.queryIDs)
        if let comparison {
            let ordered = comparison.queries.map(\.index)
            return wanted.isEmpty ? Array(ordered.prefix(options.queries)) : ordered.filter { wanted.contains(pids[$0]) }
                + pids.indices.filter { wanted.contains(pids[$0]) && stats[$0] == nil }
        }
        var picked: [Int]
        if !wanted.isEmpty {
            picked = pids.indices.filter { wanted.contains(pids[$0]) }
        } else {
            var rng = SeededRandom(seed: options.seed, keys: [0x7669_7372])
            var valid = stats.indices.filter { stats[$0] != nil }
            for i in stride(from: valid.count - 1, to: 0, by: -1) { valid.swapAt(i, rng.int(i + 1)) }
            picked = Array(valid.prefix(options.queries))
        }
        return picked.sorted { (stats[$0]?.ap ?? 2, $0) < (stats[$1]?.ap ?? 2, $1) }
    }

    static func imageName(_ query: Int, side: Int, _ options: VisRankOptions) -> String {
        String(format: "q%05d%@.%@", query, side == 0 ? "" : "-compare", options.format)
    }
}
