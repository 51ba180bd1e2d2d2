// ReportPage: one self-contained HTML page (report.html) — headings, tables from
// the reports' markdown, inline SVG plots, the recipe, the machine and the pruning
// history; no network, no scripts; written atomically.
import Foundation
import Plots
import Tensors

public struct ReportPage {
    public var title: String
    public var synthetic: Bool
    private var body = ""

    public init(title: String, synthetic: Bool) { self.title = title; self.synthetic = synthetic }

    /// A section heading.
    public mutating func heading(_ text: String) { body += "<h2>\(SVGText.escape(text))</h2>\n" }

    /// Markdown as the reports write it: `#` headings, `|` tables, `**bold**` and paragraphs.
    public mutating func markdown(_ md: String) {
        var table: [[String]] = []
        func flush() {
            guard !table.isEmpty else { return }
            body += "<table>\n" + table.enumerated().map { k, cells in
                let tag = k == 0 ? "th" : "td"
                return "<tr>" + cells.map { "<\(tag)>\(SVGText.escape($0))</\(tag)>" }.joined() + "</tr>"
            }.joined(separator: "\n") + "\n</table>\n"
            table = []
        }
        for line in md.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("|") {
                let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                if !cells.allSatisfy({ $0.allSatisfy { $0 == "-" } }) { table.append(cells) }
                continue
            }
            flush()
            if line.hasPrefix("#") {
                body += "<h2>\(SVGText.escape(line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)))</h2>\n"
            } else if !line.isEmpty {
                let parts = SVGText.escape(line).components(separatedBy: "**")
                body += "<p>" + parts.enumerated().map { $0 % 2 == 1 ? "<strong>\($1)</strong>" : $1 }.joined() + "</p>\n"
            }
        }
        flush()
    }

    /// SVG plots inline, side by side where the window allows.
    public mutating func plots(_ svgs: [String]) {
        body += "<div class=\"plots\">\n" + svgs.map { "<figure>\($0)</figure>" }.joined(separator: "\n") + "</div>\n"
    }

    /// Preformatted text (the recipe).
    public mutating func preformatted(_ text: String) { body += "<pre>\(SVGText.escape(text))</pre>\n" }

    /// Raw HTML built by the caller (already escaped).
    public mutating func html(_ fragment: String) { body += fragment }

    /// The whole page.
    public func render() -> String {
        let banner = synthetic
            ? "<p class=\"synthetic\">Synthetic data (SynthReID, or its synthetic classification sets): these results "
                + "compare methods on generated images; they are not real-data accuracy.</p>\n" : ""
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(SVGText.escape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 1.5em; color: #222; }
        table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
        th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
        th:first-child, td:first-child { text-align: left; }
        .plots { display: flex; flex-wrap: wrap; gap: 12px; }
        figure { margin: 0; border: 1px solid #eee; }
        pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 12px; }
        .synthetic { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em; }
        </style></head><body>
        <h1>\(SVGText.escape(title))</h1>
        \(banner)\(body)</body></html>

        """
    }

    /// Writes the page to `path` atomically.
    public func write(to path: String) throws {
        try AtomicFile.write(Data(render().utf8), to: path)
    }
}
