// VisRankPage: index.html of `reidprune visrank` — per query its identity, camera, AP
// and rank-1, the rank-list picture(s) and the matches' identities, cameras and
// distances as text (nothing is drawn into the pictures); one model or two side by side.
import Foundation
import Plots
import ReIDEval
import Tensors

struct VisRankPage {
    var sides: [String]
    /// lists[side][k]: the k-th shown query's rank list under that side's model.
    var lists: [[RankList]]
    var images: VisRank.Images
    var gallery: ExtractedFeatures
    var comparison: RankComparison?
    var options: VisRankOptions

    func render() -> String {
        var page = ReportPage(title: "Ranked results on \(images.dataset)", synthetic: images.synthetic)
        let e = SVGText.escape
        let metric = options.eval.metric == .euclidean ? "squared Euclidean" : "cosine"
        var intro = "<p>Model\(sides.count > 1 ? "s" : ""): "
            + sides.map { "<strong>\(e($0))</strong>" }.joined(separator: " against ")
            + ". Per query, the top \(options.topk) gallery images by \(metric) distance"
            + (options.eval.normalize ? " (normalized features)" : "")
            + (options.eval.rerank ? " after k-reciprocal re-ranking" : "")
            + ", ranked as the evaluation ranks them: junk images and images of the query's identity from the query's "
            + "camera are left out. Frames: grey the query, <span class=\"hit\">green</span> the same identity, "
            + "<span class=\"miss\">red</span> another.</p>\n"
        if let c = comparison {
            intro += "<p class=\"summary\">\(e(c.summary(a: sides[0], b: sides[1])))</p>\n"
                + "<p>Queries whose rank-1 changed come first, then the largest changes of AP.</p>\n"
        } else {
            intro += "<p>\(lists[0].count) queries, lowest AP first.</p>\n"
        }
        page.html("<style>.hit { color: #148c3c; } .miss { color: #c82323; } table.visrank td, table.visrank th { text-align: left; "
                  + "vertical-align: top; } table.visrank img { display: block; max-width: \(sides.count > 1 ? 42 : 85)vw; height: auto; } "
                  + "table.visrank td:first-child { white-space: nowrap; } "
                  + "ol.matches { font-size: 11px; margin: 4px 0 0; padding-left: 2em; }</style>\n" + intro)
        var rows = "<table class=\"visrank\">\n<tr><th>query</th>"
            + sides.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
        for k in lists[0].indices {
            let r = lists.map { $0[k] }
            let ap = r.map { $0.ap.map { String(format: "%.1f%%", 100 * $0) } ?? "n/a (no positive)" }.joined(separator: " → ")
            let hit = r.map { x -> String in
                guard x.ap != nil else { return "n/a" }
                return x.rank1 ? "<span class=\"hit\">correct</span>" : "<span class=\"miss\">wrong</span>"
            }
                .joined(separator: " → ")
            rows += "<tr><td>#\(r[0].query)<br>identity \(r[0].pid)<br>camera \(r[0].camid)<br>AP \(ap)<br>rank-1 \(hit)</td>"
            for (s, list) in r.enumerated() {
                rows += "<td><img src=\"\(e(VisRank.imageName(list.query, side: s, options)))\" "
                    + "alt=\"rank list of query \(list.query)\"><ol class=\"matches\">"
                    + list.matches.map { m in
                        "<li class=\"\(m.positive ? "hit" : "miss")\">identity \(gallery.pids[m.gallery]) · camera "
                            + "\(gallery.camids[m.gallery]) · distance " + String(format: "%.4g", m.distance) + "</li>"
                    }.joined() + "</ol></td>"
            }
            rows += "</tr>\n"
        }
        page.html(rows + "</table>\n")
        return page.render()
    }

    func write(to path: String) throws {
        try AtomicFile.write(Data(render().utf8), to: path)
    }
}
