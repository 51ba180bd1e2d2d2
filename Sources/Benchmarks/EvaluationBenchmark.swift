// EvaluationBenchmark: times evaluation of a random but structured problem (features
// near one of `ids` identity centers) from features to all metrics, and optionally
// k-reciprocal re-ranking, for `reidprune bench eval`; with a folder, from feature files
// written there (what `reidprune evaluate` reads), per phase: load, distances, ranking.
import Foundation
import ReIDEval
import Tensors
import Training

public enum EvaluationBenchmark {
    public struct Options: Sendable {
        public var queries = 3368
        public var gallery = 15913
        public var dim = 2048
        public var ids = 751
        public var threads = ProcessInfo.processInfo.activeProcessorCount
        /// Noise around the identity centers (larger is harder).
        public var noise: Float = 4
        public var rerank = false
        /// Write the problem as query.safetensors and gallery.safetensors here and time the
        /// evaluation from these files.
        public var files: String?
        public init() {}
    }

    public struct Result: Codable, Sendable {
        public var queries: Int, gallery: Int, dim: Int, threads: Int
        public var seconds: Double
        /// Phases of `seconds`: reading the files (nil without files), the distance GEMM, and
        /// turning products into distances and ranking them.
        public var load_seconds: Double?
        public var distances_seconds: Double
        public var ranking_seconds: Double
        public var rank1: Double
        public var mAP: Double
        public var rerank_seconds: Double?
        public var rerank_rank1: Double?
        public var rerank_mAP: Double?
        public var peak_rss_mb: Double

        /// One or two lines for the console.
        public var text: String {
            var s = String(format: "evaluation %d x %d, %d-d, %d threads (synthetic features): %.3f s %@to all metrics "
                           + "(rank-1 %.3f, mAP %.3f)", queries, gallery, dim, threads, seconds,
                           load_seconds == nil ? "" : "from files ", rank1, mAP)
            s += String(format: "\n  %@distances %.3f s, ranking %.3f s",
                        load_seconds.map { String(format: "load %.3f s, ", $0) } ?? "", distances_seconds, ranking_seconds)
            if let rerank_seconds {
                s += String(format: "\nre-ranking: %.1f s, peak RSS %.0f MB", rerank_seconds, peak_rss_mb)
            }
            return s
        }
    }

    public static func run(_ o: Options) throws -> Result {
        DNNL.setThreads(o.threads)
        var rng = SeededRandom(seed: 42)
        func noise() -> Float { Float(rng.uniform(-0.5, 0.5)) }
        let centers = (0..<(o.ids * o.dim)).map { _ in noise() }
        func make(_ n: Int, _ camOffset: Int) -> ExtractedFeatures {
            let t = Tensor(shape: [n, o.dim], layout: .nc)
            var pids: [Int] = [], cams: [Int] = []
            for i in 0..<n {
                let p = rng.int(o.ids)
                pids.append(p + 1)
                cams.append((i + camOffset) % 6)
                for k in 0..<o.dim { t[i * o.dim + k] = centers[p * o.dim + k] + o.noise * noise() }
            }
            return ExtractedFeatures(features: t, pids: pids, camids: cams)
        }
        let q = make(o.queries, 0), g = make(o.gallery, 3)
        let timings = Evaluation.Timings()
        let m: ReIDMetrics, seconds: Double
        if let dir = o.files {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let (qPath, gPath) = (dir + "/query.safetensors", dir + "/gallery.safetensors")
            var (qs, gs) = (q, g)
            (qs.synthetic, gs.synthetic) = (true, true)
            try qs.save(to: qPath)
            try gs.save(to: gPath)
            let start = Date()
            m = try Evaluation.evaluate(queryFile: qPath, galleryFile: gPath, metric: "euclidean", normalize: false,
                                        rerank: false, cuhk03: false, maxRank: 50, timings: timings).metrics
            seconds = Date().timeIntervalSince(start)
        } else {
            let start = Date()
            m = try Evaluation.evaluate(query: q, gallery: g, metric: .euclidean, rerank: false, cuhk03: false,
                                        timings: timings)
            seconds = Date().timeIntervalSince(start)
        }
        var r = Result(queries: o.queries, gallery: o.gallery, dim: o.dim, threads: o.threads, seconds: seconds,
                       load_seconds: o.files == nil ? nil : timings.load, distances_seconds: timings.distances,
                       ranking_seconds: timings.ranking, rank1: m.rank(1), mAP: m.mAP,
                       peak_rss_mb: ModelBenchmark.peakResidentMegabytes())
        if o.rerank {
            let s2 = Date()
            let rr = try Evaluation.evaluate(query: q, gallery: g, metric: .euclidean, rerank: true, cuhk03: false)
            r.rerank_seconds = Date().timeIntervalSince(s2)
            r.rerank_rank1 = rr.rank(1)
            r.rerank_mAP = rr.mAP
            r.peak_rss_mb = ModelBenchmark.peakResidentMegabytes()
        }
        return r
    }
}
