// ScatterPlot+Render: writes the SVG — frame, grid and ticks, reference lines,
// Pareto step line, markers (spread apart where they share a place), placed labels
// (with data-label-box attributes a browser check can read) and the legend.
import Foundation

extension ScatterPlot {
    /// The whole plot as one self-contained SVG document (no scripts, no external resources).
    public func render() -> String {
        let t = ticks(), f = plotFrame(t)
        let sx = LinearScale(domain: (t.x.lower, t.x.upper), range: (f.x, f.maxX))
        let sy = LinearScale(domain: (t.y.lower, t.y.upper), range: (f.maxY, f.y))
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"\(Int(fontSize))\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(SVGText.n(width / 2))\" y=\"\(SVGText.n(fontSize * 1.6))\" text-anchor=\"middle\" "
            + "font-size=\"\(Int(fontSize + 3))\">\(SVGText.escape(title))</text>\n"
        out += axes(t, f, sx, sy)
        out += referenceLines(f, sx, sy)
        if paretoFront { out += front(f, sx, sy) }
        out += pointsAndLabels(f, sx, sy)
        out += legend(f)
        return out + "</svg>\n"
    }

    func axes(_ t: (x: NiceTicks, y: NiceTicks), _ f: Box, _ sx: LinearScale, _ sy: LinearScale) -> String {
        let n = SVGText.n
        var out = "<g class=\"axes\" stroke=\"#ddd\">\n"
        for v in t.x.values { out += "<line x1=\"\(n(sx(v)))\" y1=\"\(n(f.y))\" x2=\"\(n(sx(v)))\" y2=\"\(n(f.maxY))\"/>\n" }
        for v in t.y.values { out += "<line x1=\"\(n(f.x))\" y1=\"\(n(sy(v)))\" x2=\"\(n(f.maxX))\" y2=\"\(n(sy(v)))\"/>\n" }
        out += "</g>\n<rect x=\"\(n(f.x))\" y=\"\(n(f.y))\" width=\"\(n(f.width))\" height=\"\(n(f.height))\" "
            + "fill=\"none\" stroke=\"#333\"/>\n"
        for (v, s) in zip(t.x.values, t.x.labels(xUnit)) {
            out += "<text x=\"\(n(sx(v)))\" y=\"\(n(f.maxY + fontSize + 4))\" text-anchor=\"middle\">\(SVGText.escape(s))</text>\n"
        }
        for (v, s) in zip(t.y.values, t.y.labels(yUnit)) {
            out += "<text x=\"\(n(f.x - 6))\" y=\"\(n(sy(v) + fontSize * 0.35))\" text-anchor=\"end\">\(SVGText.escape(s))</text>\n"
        }
        out += "<text x=\"\(n(f.x + f.width / 2))\" y=\"\(n(f.maxY + fontSize * 2.8 + 4))\" text-anchor=\"middle\">"
            + "\(SVGText.escape(xLabel))</text>\n"
        let yx = 10 + fontSize, ym = f.y + f.height / 2
        out += "<text x=\"\(n(yx))\" y=\"\(n(ym))\" text-anchor=\"middle\" transform=\"rotate(-90 \(n(yx)) \(n(ym)))\">"
            + "\(SVGText.escape(yLabel))</text>\n"
        return out
    }

    func referenceLines(_ f: Box, _ sx: LinearScale, _ sy: LinearScale) -> String {
        let n = SVGText.n
        var out = ""
        for r in references {
            let title = "<title>\(SVGText.escape(r.label))</title>"
            if r.vertical {
                out += "<line class=\"reference\" x1=\"\(n(sx(r.value)))\" y1=\"\(n(f.y))\" x2=\"\(n(sx(r.value)))\" "
                    + "y2=\"\(n(f.maxY))\" stroke=\"#777\" stroke-dasharray=\"5 4\">\(title)</line>\n"
            } else {
                out += "<line class=\"reference\" x1=\"\(n(f.x))\" y1=\"\(n(sy(r.value)))\" x2=\"\(n(f.maxX))\" "
                    + "y2=\"\(n(sy(r.value)))\" stroke=\"#777\" stroke-dasharray=\"5 4\">\(title)</line>\n"
            }
        }
        return out
    }

    func front(_ f: Box, _ sx: LinearScale, _ sy: LinearScale) -> String {
        let idx = ParetoFront.indices(points.map { (x: $0.x, y: $0.y) })
        guard idx.count > 1 else { return "" }
        let path = ParetoFront.stepPath(idx.map { (x: points[$0].x, y: points[$0].y) }, xEnd: points[idx.last!].x)
        let d = path.map { "\(SVGText.n(sx($0.x))),\(SVGText.n(sy($0.y)))" }.joined(separator: " ")
        return "<polyline class=\"pareto\" points=\"\(d)\" fill=\"none\" stroke=\"#999\" stroke-width=\"1.5\">"
            + "<title>Pareto front: best value for the cost</title></polyline>\n"
    }

    func pointsAndLabels(_ f: Box, _ sx: LinearScale, _ sy: LinearScale) -> String {
        let series = seriesNames, groups = groupNames, r = 5.0, n = SVGText.n
        let centres = points.map { (x: sx($0.x), y: sy($0.y)) }
        let drawn = MarkerSpread.positions(centres, r: r)
        let markers = drawn.map { Box(x: $0.x - r, y: $0.y - r, width: 2 * r, height: 2 * r) }
        var placer = LabelPlacer(frame: f, fontSize: fontSize - 1, obstacles: markers)
        var tips = points.map { "\($0.label): \(xUnit.format($0.x, step: 0.0001)), \(yUnit.format($0.y, step: 0.001))" }
        var out = "<g class=\"points\">\n", labels = "<g class=\"labels\" font-size=\"\(Int(fontSize - 1))\">\n"
        for c in MarkerSpread.clusters(centres, radius: r) where c.count > 1 {
            // Every marker of a shared place names all the points there; thin spokes lead to
            // the true position.
            let all = "\(c.count) points here: " + c.map { tips[$0] }.joined(separator: "; ")
            for i in c {
                tips[i] = all
                out += "<line class=\"spoke\" x1=\"\(n(centres[i].x))\" y1=\"\(n(centres[i].y))\" x2=\"\(n(drawn[i].x))\" "
                    + "y2=\"\(n(drawn[i].y))\" stroke=\"#999\" stroke-width=\"0.8\"/>\n"
            }
            out += "<circle class=\"shared\" cx=\"\(n(centres[c[0]].x))\" cy=\"\(n(centres[c[0]].y))\" r=\"1.5\" fill=\"#555\">"
                + "<title>\(SVGText.escape(all))</title></circle>\n"
        }
        for (k, p) in points.enumerated() {
            let color = SVGText.color(series.firstIndex(of: p.series) ?? 0)
            out += "<g><title>\(SVGText.escape(tips[k]))</title>"
                + SVGText.marker(groups.firstIndex(of: p.group) ?? 0, x: drawn[k].x, y: drawn[k].y, r: r, fill: color) + "</g>\n"
            guard !p.label.isEmpty, let b = placer.place(p.label, px: drawn[k].x, py: drawn[k].y) else { continue }
            let box = [b.x, b.y, b.width, b.height].map(SVGText.n).joined(separator: " ")
            labels += "<text class=\"label\" data-label-box=\"\(box)\" x=\"\(SVGText.n(b.x))\" "
                + "y=\"\(SVGText.n(b.y + b.height * 0.8))\" fill=\"\(color)\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">\(SVGText.escape(p.label))</text>\n"
        }
        return out + "</g>\n" + labels + "</g>\n"
    }

    func legend(_ f: Box) -> String {
        let entries = legendEntries()
        guard !entries.isEmpty else { return "" }
        let x = f.maxX + 16, line = fontSize * 1.5
        var out = "<g class=\"legend\">\n"
        for (k, e) in entries.enumerated() {
            let y = f.y + 8 + Double(k) * line
            let color = e.1.map(SVGText.color) ?? "#555"
            out += SVGText.marker(e.2 ?? 0, x: x + 6, y: y, r: 5, fill: color)
            out += "<text x=\"\(SVGText.n(x + 18))\" y=\"\(SVGText.n(y + fontSize * 0.35))\">\(SVGText.escape(e.0))</text>\n"
        }
        return out + "</g>\n"
    }
}
