// VisRankTests: ranked-result galleries — from feature files with image paths on a
// hand-made problem (frames and pictures equal the evaluation's ranking, worst AP
// first, junk left out), the comparison's ordering and summary, from weights on two
// in-process ranks, and bad input refused with the file or identity named.
import Distributed
import Foundation
import NN
import ReIDData
import ReIDEval
import Tensors
@testable import Training
import XCTest

final class VisRankTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "visrank-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/data/gallery", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/data/query", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Gallery 0: junk nearest of all; 1: the query's identity on the query's camera; 2, 4:
    /// other people; 3, 5: identity 2 on cameras 1, 2; 6: identity 1 on camera 1. Query 0:
    /// identity 1 at 0.0 (its positive 6 at rank 3: AP 1/3); query 1: identity 2 at 0.3
    /// (positives at ranks 1 and 6: AP 2/3).
    static let gallery: [Float] = [0.0, 0.01, 0.2, 0.3, 0.5, 0.6, 0.45]
    static let gPids = [-1, 1, 0, 2, 3, 2, 1], gCams = [0, 0, 1, 1, 1, 2, 1]
    static let query: [Float] = [0.0, 0.3]
    static let qPids = [1, 2], qCams = [0, 0]

    /// A distinct solid colour per image: gallery j is (10 + 30 j, 200 - 20 j, 50), queries grey.
    static func color(gallery j: Int) -> (UInt8, UInt8, UInt8) { (UInt8(10 + 30 * j), UInt8(200 - 20 * j), 50) }

    /// Writes the images and the two features files (with paths unless `paths` is false).
    func writeProblem(paths: Bool = true) throws -> (q: String, g: String) {
        let codec = ImageCodec()
        for j in Self.gallery.indices {
            try codec.encodePNG(RGBImage(width: 16, height: 32, fill: Self.color(gallery: j)))
                .write(to: URL(fileURLWithPath: dir + "/data/gallery/g\(j).png"))
        }
        for i in Self.query.indices {
            try codec.encodePNG(RGBImage(width: 16, height: 32, fill: (128, 128, 128)))
                .write(to: URL(fileURLWithPath: dir + "/data/query/q\(i).png"))
        }
        func save(_ v: [Float], _ pids: [Int], _ cams: [Int], _ names: [String], _ file: String) throws -> String {
            let f = ExtractedFeatures(features: Tensor(shape: [v.count, 1], layout: .nc, values: v), pids: pids, camids: cams,
                                      paths: paths ? names : nil)
            try f.save(to: dir + "/" + file)
            return dir + "/" + file
        }
        return (try save(Self.query, Self.qPids, Self.qCams, Self.query.indices.map { "query/q\($0).png" }, "q.safetensors"),
                try save(Self.gallery, Self.gPids, Self.gCams, Self.gallery.indices.map { "gallery/g\($0).png" }, "g.safetensors"))
    }

    func options(_ out: String) -> VisRankOptions {
        var o = VisRankOptions()
        (o.topk, o.out, o.format) = (4, dir + "/" + out, "png")
        (o.strip.cellHeight, o.strip.cellWidth) = (32, 16)
        return o
    }

    func testPicturesFollowTheEvaluationsRanking() throws {
        let (q, g) = try writeProblem()
        try "{}".write(toFile: dir + "/data/manifest.json", atomically: true, encoding: .utf8)
        let line = try VisRank.run(queryFile: q, galleryFile: g, data: dir + "/data", options: options("out"))
        XCTAssertTrue(line.contains("2 queries") && line.contains("synthetic"), line)
        // Query 0 ranks 2, 3, 6, 4 (junk 0 and same-camera 1 left out): red, red, green, red.
        let expected: [[(Int, Bool)]] = [[(2, false), (3, false), (6, true), (4, false)],
                                         [(3, true), (2, false), (6, false), (4, false)]]
        let o = options("out"), layout = o.strip.layout(matches: 4)
        for (i, want) in expected.enumerated() {
            let img = try ImageCodec().decode(path: dir + "/out/q0000\(i).png")
            // Synthetic data: a caption band under the strip, black letters on pale yellow.
            XCTAssertEqual(img.width, layout.width); XCTAssertEqual(img.height, layout.height + 22)
            let band = (layout.height..<img.height).flatMap { y in (0..<img.width).map { img[$0, y] } }
            XCTAssertTrue(band.contains { $0 == (0, 0, 0) } && band.contains { $0 == (255, 240, 170) })
            let lit = band.filter { $0 == (0, 0, 0) }.count
            XCTAssertTrue(lit % 4 == 0 && lit >= 4 * 120, "\(lit) pixels: SYNTHETIC DATA's 188 cells, 2x2 each, cut at the edge")
            let qb = layout.boxes[0]
            XCTAssertTrue(img[qb.x + 1, qb.y + 1] == RankStrip.queryColor)
            for (k, (j, hit)) in want.enumerated() {
                let b = layout.boxes[k + 1]
                XCTAssertTrue(img[b.x + 1, b.y + 1] == (hit ? RankStrip.hitColor : RankStrip.missColor), "query \(i) rank \(k + 1)")
                XCTAssertTrue(img[b.x + b.width / 2, b.y + b.height / 2] == Self.color(gallery: j), "query \(i) rank \(k + 1) image")
            }
        }
        // The evaluation's AP for the same features: query 0 (1/3), query 1 (2/3); the worst first.
        let html = try String(contentsOfFile: dir + "/out/index.html", encoding: .utf8)
        let d = DistanceMatrix.compute(query: Tensor(shape: [2, 1], layout: .nc, values: Self.query),
                                       gallery: Tensor(shape: [7, 1], layout: .nc, values: Self.gallery), metric: .euclidean)
        let m = try Metrics.evaluate(d, queryPids: Self.qPids, galleryPids: Self.gPids, queryCams: Self.qCams,
                                     galleryCams: Self.gCams)
        XCTAssertEqual(m.mAP, (1.0 / 3 + 2.0 / 3) / 2, accuracy: 1e-6)
        XCTAssertTrue(html.contains("AP 33.3%") && html.contains("AP 66.7%"))
        XCTAssertLessThan(html.range(of: "q00000.png")!.lowerBound, html.range(of: "q00001.png")!.lowerBound)
        XCTAssertTrue(html.contains("identity 1 · camera 1 · distance 0.2025")); XCTAssertFalse(html.contains("identity -1"))
        XCTAssertTrue(html.contains("Synthetic data")); XCTAssertFalse(html.contains("<script"))
        // --query-ids picks that identity's queries only.
        var only = options("ids")
        only.queryIDs = [2]
        _ = try VisRank.run(queryFile: q, galleryFile: g, data: dir + "/data", options: only)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/ids").sorted(), ["index.html", "q00001.png"])
        // With re-ranking, the pictures follow the re-ranked distances the evaluation would use.
        var rr = options("rerank")
        rr.eval.rerank = true
        _ = try VisRank.run(queryFile: q, galleryFile: g, data: dir + "/data", options: rr)
        let reranked = ReRanking.rerank(query: Tensor(shape: [2, 1], layout: .nc, values: Self.query),
                                        gallery: Tensor(shape: [7, 1], layout: .nc, values: Self.gallery), metric: .euclidean)
        let first = Metrics.rankList(reranked, query: 0, queryPids: Self.qPids, galleryPids: Self.gPids, queryCams: Self.qCams,
                                     galleryCams: Self.gCams, topk: 4)
        let picture = try ImageCodec().decode(path: dir + "/rerank/q00000.png")
        for (k, m) in first.matches.enumerated() {
            let b = layout.boxes[k + 1]
            XCTAssertTrue(picture[b.x + b.width / 2, b.y + b.height / 2] == Self.color(gallery: m.gallery), "re-ranked rank \(k + 1)")
        }
        XCTAssertTrue(try String(contentsOfFile: dir + "/rerank/index.html", encoding: .utf8).contains("re-ranking"))
    }

    func testSeededQueryChoiceIsReproducible() {
        let stats: [(firstRank: Int, ap: Double)?] = (0..<40).map { i -> (firstRank: Int, ap: Double)? in
            if i % 5 == 0 { return nil }
            let rank: Int = 1 + i % 3
            let ap: Double = 1 / Double(1 + i % 7)
            return (rank, ap)
        }
        var o = VisRankOptions()
        o.queries = 6
        let a = VisRank.choose(stats, comparison: nil, pids: Array(0..<40), options: o)
        XCTAssertEqual(a, VisRank.choose(stats, comparison: nil, pids: Array(0..<40), options: o))
        XCTAssertEqual(a.count, 6); XCTAssertTrue(a.allSatisfy { stats[$0] != nil })
        XCTAssertEqual(a.map { stats[$0]!.ap }, a.map { stats[$0]!.ap }.sorted(), "worst AP first")
        o.seed = 9
        XCTAssertNotEqual(Set(a), Set(VisRank.choose(stats, comparison: nil, pids: Array(0..<40), options: o)))
    }

    func testComparisonOrderingAndSummary() {
        let a: [(firstRank: Int, ap: Double)?] = [(1, 1.0), (3, 0.4), nil, (1, 0.9), (2, 0.5)]
        let b: [(firstRank: Int, ap: Double)?] = [(2, 0.5), (1, 1.0), nil, (1, 0.86), (2, 0.2)]
        let c = RankComparison(a: a, b: b)
        XCTAssertEqual(c.queries.map(\.index), [1, 0, 4, 3], "rank-1 changes first, then the largest AP change")
        XCTAssertEqual([c.better, c.worse, c.unchanged], [1, 1, 2])
        XCTAssertEqual(c.summary(a: "A", b: "B"),
                       "rank-1 of B against A: 1 queries better, 1 worse, 2 unchanged (of 4 valid queries); mAP 70.0% -> 64.0%")
        var o = VisRankOptions()
        o.queries = 3
        XCTAssertEqual(VisRank.choose(a, comparison: c, pids: [5, 6, 7, 8, 9], options: o), [1, 0, 4])
    }

    func testCompareSideBySideFromTwoFeatureSets() throws {
        let (qf, gf) = try writeProblem()
        let q = try ExtractedFeatures(contentsOf: qf), g = try ExtractedFeatures(contentsOf: gf)
        // Model B moves gallery 6 next to query 0 (rank-1 now correct) and leaves query 1 alone.
        var moved = Self.gallery
        moved[6] = 0.05
        let g2 = ExtractedFeatures(features: Tensor(shape: [7, 1], layout: .nc, values: moved), pids: Self.gPids, camids: Self.gCams)
        let images = VisRank.Images(query: q.paths!.map { dir + "/data/" + $0 }, gallery: g.paths!.map { dir + "/data/" + $0 },
                                    dataset: "hand", synthetic: false)
        let outcome = try VisRank.write([.init(name: "A", query: q, gallery: g), .init(name: "B", query: q, gallery: g2)],
                                        images: images, options: options("cmp"))
        let line = outcome.line
        XCTAssertEqual(outcome.pictures, [["q00000.png", "q00000-compare.png"], ["q00001.png", "q00001-compare.png"]])
        XCTAssertTrue(line.contains("1 queries better, 0 worse, 1 unchanged"), line)
        // Not synthetic: no caption band.
        XCTAssertEqual(try ImageCodec().decode(path: dir + "/cmp/q00000.png").height, options("cmp").strip.layout(matches: 4).height)
        let html = try String(contentsOfFile: dir + "/cmp/index.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<th>A</th><th>B</th>"))
        XCTAssertLessThan(html.range(of: "q00000.png")!.lowerBound, html.range(of: "q00001.png")!.lowerBound)
        XCTAssertTrue(html.contains("q00000-compare.png")); XCTAssertTrue(html.contains("33.3% → 100.0%"))
        XCTAssertFalse(html.contains("Synthetic data"))
    }

    func testScenarioReportShowsWhatPruningChanged() throws {
        let (qf, gf) = try writeProblem()
        let q = try ExtractedFeatures(contentsOf: qf), g = try ExtractedFeatures(contentsOf: gf)
        var moved = Self.gallery
        moved[6] = 0.05
        let pruned = ExtractedFeatures(features: Tensor(shape: [7, 1], layout: .nc, values: moved), pids: Self.gPids,
                                       camids: Self.gCams)
        let images = VisRank.Images(query: q.paths!.map { dir + "/data/" + $0 }, gallery: g.paths!.map { dir + "/data/" + $0 },
                                    dataset: "hand", synthetic: true)
        // With REIDPRUNE_PLOTS_OUT set (launch/test), the page is kept for the browser check.
        let out = ProcessInfo.processInfo.environment["REIDPRUNE_PLOTS_OUT"].map { $0 + "/scenario-compare" } ?? dir + "/scenario"
        let c = try ScenarioComparison.write(reference: .init(name: "unpruned resnet18", query: q, gallery: g),
                                             pruned: .init(name: "S1 l1", query: q, gallery: pruned), label: "S1 l1",
                                             stage: "s1-l1-target", images: images, eval: EvalConfig(), directory: out)
        XCTAssertEqual(c.pictures, ["visrank/s1-l1-target/q00000.jpg", "visrank/s1-l1-target/q00000-compare.jpg"])
        try ScenarioReport.write(ScenarioPlotsTests.rows(), synthetic: true, comparisons: [c], reference: "unpruned resnet18",
                                 to: out)
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("What pruning changed"))
        XCTAssertTrue(html.contains("href=\"visrank/s1-l1-target/index.html\""))
        XCTAssertTrue(html.contains("rank-1 of S1 l1 against unpruned resnet18: 1 queries better, 0 worse, 1 unchanged"))
        for p in c.pictures { XCTAssertTrue(html.contains("src=\"\(p)\"")); XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + p)) }
    }

    /// A small SynthReID set at dir/synth and an untrained ResNet-18 at dir/model.safetensors.
    func writeSynthAndModel() throws {
        var synth = SynthOptions()
        (synth.ids, synth.cameras, synth.imagesPerId, synth.height, synth.width, synth.seed) = (6, 2, 4, 64, 32, 4)
        _ = try SynthReID.generate(synth, out: dir + "/synth")
        let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true, numClasses: 3))
        try ModelWeights.save(net, to: dir + "/model.safetensors")
    }

    func testFromWeightsOnTwoRanks() throws {
        try writeSynthAndModel()
        var o = options("weights")
        (o.height, o.width, o.queries) = (64, 32, 3)
        let opts = o
        let world = ThreadWorld(size: 2)
        let path = dir
        let lines = LockedLines()
        try world.run { _, comm in
            lines.append(try VisRank.run(weights: path + "/model.safetensors", compare: path + "/model.safetensors",
                                         data: path + "/synth", options: opts, comm: comm))
        }
        XCTAssertEqual(lines.all.count, 2); XCTAssertEqual(Set(lines.all).count, 1, "every rank learns the root's line")
        XCTAssertTrue(lines.all[0].contains("synthetic") && lines.all[0].contains(" 0 queries better, 0 worse"), lines.all[0])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/weights")
        let pngs = files.filter { $0.hasSuffix(".png") }
        XCTAssertEqual(pngs.count, 6, "\(files)"); XCTAssertEqual(pngs.filter { $0.contains("-compare") }.count, 3)
        XCTAssertTrue(files.contains("index.html"))
        // extract stores each row's image relative to the data folder; visrank from those files
        // picks the same queries as from the weights.
        for split in ["query", "gallery"] {
            _ = try FeatureExtractor.extract(weights: dir + "/model.safetensors", arch: nil, data: dir + "/synth", split: split,
                                             out: dir + "/\(split).safetensors", height: 64, width: 32, batchSize: 8,
                                             flip: false, normalize: false)
        }
        // Under three ranks each extracts its share and the root writes the same file, byte
        // for byte (rows in the split's order); every rank learns the root's line.
        let three = LockedLines()
        try ThreadWorld(size: 3).run { rank, comm in
            three.append("\(rank):" + (try FeatureExtractor.extract(
                weights: path + "/model.safetensors", arch: nil, data: path + "/synth", split: "query",
                out: path + "/query3.safetensors", height: 64, width: 32, batchSize: 5, flip: false, normalize: false,
                comm: comm)))
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/query3.safetensors")),
                       try Data(contentsOf: URL(fileURLWithPath: dir + "/query.safetensors")))
        XCTAssertEqual(Set(three.all.map { $0.dropFirst(2) }).count, 1, "\(three.all)")
        XCTAssertTrue(three.all[0].hasSuffix("query3.safetensors: 6 x 32 features of the query split of synthreid-mall (synthetic data)"),
                      "\(three.all)")
        let q = try ExtractedFeatures(contentsOf: dir + "/query.safetensors")
        XCTAssertTrue(q.paths!.allSatisfy { !$0.hasPrefix("/") && FileManager.default.fileExists(atPath: dir + "/synth/" + $0) })
        var fo = options("features")
        fo.queries = 3
        _ = try VisRank.run(queryFile: dir + "/query.safetensors", galleryFile: dir + "/gallery.safetensors",
                            data: dir + "/synth", options: fo)
        var so = options("single")
        so.queries = 3
        (so.height, so.width) = (64, 32)
        _ = try VisRank.run(weights: dir + "/model.safetensors", compare: nil, data: dir + "/synth", options: so,
                            comm: LocalCommunicator())
        func images(_ sub: String) throws -> Set<String> {
            Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/" + sub).filter { $0.hasSuffix(".png") })
        }
        XCTAssertEqual(try images("features"), try images("single")); XCTAssertEqual(try images("single").count, 3)
    }

    /// What every rank meets (a missing data folder) and what one rank meets (a corrupt
    /// image in its share) end every rank with the same error, agreed, so that the command
    /// line prints it once; nothing is written.
    func testFailuresUnderSeveralRanksAreAgreed() throws {
        try writeSynthAndModel()
        let path = dir
        var o = options("weights")
        (o.height, o.width, o.queries) = (64, 32, 3)
        let opts = o
        func agreed(_ body: @escaping @Sendable (ThreadCommunicator) throws -> Void) -> [String] {
            let seen = LockedLines()
            try? ThreadWorld(size: 2).run { _, comm in
                do { try body(comm) } catch { seen.append("\(error)|\(comm.agreedFailure ?? "not agreed")") }
            }
            return seen.all
        }
        let missing = agreed { comm in
            _ = try VisRank.run(weights: path + "/model.safetensors", compare: nil, data: path + "/none", options: opts, comm: comm)
        }
        XCTAssertEqual(missing.count, 2)
        XCTAssertTrue(missing.allSatisfy { $0 == "\(path)/none: no such folder|\(path)/none: no such folder" }, "\(missing)")
        // The last query image lies in rank 1's share.
        let queries = try FileManager.default.contentsOfDirectory(atPath: dir + "/synth/query").filter { $0.hasSuffix(".jpg") }.sorted()
        let bad = dir + "/synth/query/" + queries.last!
        try Data([0xFF, 0xD8, 0xFF, 0x00]).write(to: URL(fileURLWithPath: bad))
        for out in ["vr", "ex.safetensors"] {
            let lines = agreed { comm in
                if out == "vr" {
                    _ = try VisRank.run(weights: path + "/model.safetensors", compare: nil, data: path + "/synth",
                                        options: opts, comm: comm)
                } else {
                    _ = try FeatureExtractor.extract(weights: path + "/model.safetensors", arch: nil, data: path + "/synth",
                                                     split: "query", out: path + "/" + out, height: 64, width: 32,
                                                     batchSize: 4, flip: false, normalize: false, comm: comm)
                }
            }
            XCTAssertEqual(lines.count, 2, out)
            XCTAssertEqual(Set(lines).count, 1, "\(lines)")
            let (message, agreement) = (lines[0].split(separator: "|").first!, lines[0].split(separator: "|").last!)
            XCTAssertTrue(message.hasPrefix("rank 1: \(bad)"), "\(lines)")
            XCTAssertEqual(message, agreement)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ex.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/vr/index.html"))
    }

    func testBadInputIsRefusedNamingIt() throws {
        let (q, g) = try writeProblem()
        let data = dir + "/data"
        XCTAssertThrowsError(try VisRank.run(queryFile: q, galleryFile: g, data: nil, options: options("x"))) {
            XCTAssertTrue("\($0)".contains("--data") && "\($0)".contains(q), "\($0)")
        }
        var ids = options("x")
        ids.queryIDs = [99]
        XCTAssertThrowsError(try VisRank.run(queryFile: q, galleryFile: g, data: data, options: ids)) {
            XCTAssertTrue("\($0)".contains("identity 99"), "\($0)")
        }
        var k = options("x")
        k.topk = 0
        XCTAssertThrowsError(try VisRank.run(queryFile: q, galleryFile: g, data: data, options: k)) {
            XCTAssertTrue("\($0)".contains("--topk"), "\($0)")
        }
        // A picture that cannot be read: nothing is written.
        try FileManager.default.removeItem(atPath: data + "/gallery/g6.png")
        XCTAssertThrowsError(try VisRank.run(queryFile: q, galleryFile: g, data: data, options: options("x"))) {
            XCTAssertTrue("\($0)".contains("gallery/g6.png"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x"))
        // Features without image paths.
        let (q2, g2) = try writeProblem(paths: false)
        XCTAssertThrowsError(try VisRank.run(queryFile: q2, galleryFile: g2, data: data, options: options("x"))) {
            XCTAssertTrue("\($0)".contains(q2) && "\($0)".contains("no image paths"), "\($0)")
        }
    }
}

/// Lines collected from several threads.
final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
