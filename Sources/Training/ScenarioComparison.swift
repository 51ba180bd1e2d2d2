// ScenarioComparison: what each pruned model of a scenario retrieves differently from
// its unpruned source on the first target data set — a visrank comparison folder per
// model (visrank/<stage>/index.html) and, for report.html, its summary line and the
// pictures of the query that changed most.
import Foundation
import Plots
import ReIDEval

public struct ScenarioComparison: Codable, Sendable {
    /// The model as the plots name it ("S1 l1").
    public var label: String
    /// Its folder inside the scenario folder ("visrank/s1-l1-target").
    public var folder: String
    public var summary: String
    /// The most changed query's pictures (unpruned, pruned), relative to the scenario folder,
    /// with the model each shows.
    public var pictures: [String]
    public var models: [String]

    /// Writes `directory/visrank/<stage>/` comparing `pruned` against `reference`.
    public static func write(reference: VisRank.Side, pruned: VisRank.Side, label: String, stage: String,
                             images: VisRank.Images, eval: EvalConfig, directory: String) throws -> ScenarioComparison {
        var o = VisRankOptions()
        (o.topk, o.queries, o.eval, o.out) = (8, 12, eval, directory + "/visrank/" + stage)
        let outcome = try VisRank.write([reference, pruned], images: images, options: o)
        let folder = "visrank/" + stage
        return ScenarioComparison(label: label, folder: folder, summary: outcome.summary ?? "",
                                  pictures: (outcome.pictures.first ?? []).map { folder + "/" + $0 },
                                  models: [reference.name, pruned.name])
    }

    /// The report.html section: per model its summary, a link to its page and the most
    /// changed query's rank lists, unpruned above pruned.
    static func section(_ comparisons: [ScenarioComparison], reference: String, into page: inout ReportPage) {
        guard !comparisons.isEmpty else { return }
        let e = SVGText.escape
        page.heading("What pruning changed: rank lists against the unpruned model")
        var s = "<p>Each pruned model's retrievals on the first target, query by query, against \(e(reference)) "
            + "(green frame: same identity, red: another; the query first, in grey). Shown: the query whose rank-1 or AP "
            + "changed most; "
            + "each link opens all of that model's most changed queries.</p>\n"
        for c in comparisons {
            s += "<h3><a href=\"\(e(c.folder))/index.html\">\(e(c.label))</a></h3>\n<p>\(e(c.summary))</p>\n"
            s += "<table class=\"ranklists\">" + zip(c.models, c.pictures).map { model, file in
                "<tr><td>\(e(model))</td><td><img src=\"\(e(file))\" alt=\"rank list under \(e(model))\"></td></tr>"
            }.joined() + "</table>\n"
        }
        page.html(s)
    }
}
