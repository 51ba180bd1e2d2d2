// LinePlot: a self-contained SVG line chart (training curves): one colour per
// series with a legend, nice ticks in units, and vertical event markers (pruning
// rounds) annotated with a short text.
import Foundation

/// Lines over a shared x axis (epochs); `render()` gives the SVG text.
public struct LinePlot: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// The palette colour (default: the series' position) and a dashed stroke.
        public var color: Int?
        public var dashed: Bool
        public init(name: String, points: [(x: Double, y: Double)], color: Int? = nil, dashed: Bool = false) {
            self.name = name; self.points = points; self.color = color; self.dashed = dashed
        }
    }

    public var title, xLabel, yLabel: String
    public var yUnit: TickUnit
    public var series: [Series]
    /// Vertical lines at x with an annotation (e.g. "round 1: 0.019 GFLOPs").
    public var markers: [(x: Double, text: String)] = []
    public var width = 720.0, height = 320.0, fontSize = 12.0

    public init(title: String, xLabel: String, yLabel: String, yUnit: TickUnit, series: [Series]) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.yUnit = yUnit; self.series = series
    }

    /// The whole chart as one SVG document; a plot with no points says so in its frame.
    public func render() -> String {
        let xs = series.flatMap { $0.points.map(\.x) } + markers.map(\.x), ys = series.flatMap { $0.points.map(\.y) }
        let tx = NiceTicks(lower: min(0, xs.min() ?? 0), upper: xs.max() ?? 1, target: 8)
        let yLow = ys.min() ?? 0, yHigh = ys.max() ?? 1
        let base = yLow >= 0 ? 0 : yLow
        let ty = NiceTicks(lower: base, upper: yHigh + max(yHigh - base, 1e-12) * 0.04, target: 5)
        var frame = ScatterPlot(title: title, xLabel: xLabel, yLabel: yLabel, xUnit: .plain, yUnit: yUnit, points: [])
        (frame.width, frame.height, frame.fontSize) = (width, height, fontSize)
        var f = frame.plotFrame((tx, ty))
        let legendWidth = series.map { Box.textWidth($0.name, fontSize: fontSize) + 26 }.max() ?? 0
        if series.count > 1 { f.width -= legendWidth + 16 }
        let sx = LinearScale(domain: (tx.lower, tx.upper), range: (f.x, f.maxX))
        let sy = LinearScale(domain: (ty.lower, ty.upper), range: (f.maxY, f.y))
        let n = SVGText.n
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"\(Int(fontSize))\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + "<text x=\"\(n(width / 2))\" y=\"\(n(fontSize * 1.6))\" text-anchor=\"middle\" font-size=\"\(Int(fontSize + 3))\">"
            + "\(SVGText.escape(title))</text>\n"
        out += frame.axes((tx, ty), f, sx, sy)
        if ys.isEmpty {
            out += "<text x=\"\(n(f.x + f.width / 2))\" y=\"\(n(f.y + f.height / 2))\" text-anchor=\"middle\" fill=\"#777\">"
                + "no data</text>\n"
        }
        out += markerLines(f, sx)
        for (k, s) in series.enumerated() where !s.points.isEmpty {
            let d = s.points.map { "\(n(sx($0.x))),\(n(sy($0.y)))" }.joined(separator: " ")
            let color = SVGText.color(s.color ?? k), dash = s.dashed ? " stroke-dasharray=\"6 3\"" : ""
            out += "<polyline class=\"series\" points=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\"\(dash)>"
                + "<title>\(SVGText.escape(s.name))</title></polyline>\n"
            if s.points.count <= 40 {  // few points (evaluations, short runs): each one visible
                out += s.points.map { "<circle cx=\"\(n(sx($0.x)))\" cy=\"\(n(sy($0.y)))\" r=\"2.5\" fill=\"\(color)\"/>" }
                    .joined() + "\n"
            }
        }
        if series.count > 1 {
            out += "<g class=\"legend\">\n"
            for (k, s) in series.enumerated() {
                let y = f.y + 8 + Double(k) * fontSize * 1.5, x = f.maxX + 16
                let dash = s.dashed ? " stroke-dasharray=\"4 2\"" : ""
                out += "<line x1=\"\(n(x))\" y1=\"\(n(y))\" x2=\"\(n(x + 14))\" y2=\"\(n(y))\" "
                    + "stroke=\"\(SVGText.color(s.color ?? k))\" stroke-width=\"2\"\(dash)/><text x=\"\(n(x + 18))\" y=\"\(n(y + fontSize * 0.35))\">\(SVGText.escape(s.name))</text>\n"
            }
            out += "</g>\n"
        }
        return out + "</svg>\n"
    }

    /// Dashed vertical lines with their annotation placed without overlap near the top.
    func markerLines(_ f: Box, _ sx: LinearScale) -> String {
        var placer = LabelPlacer(frame: f, fontSize: fontSize - 2)
        var out = ""
        for m in markers {
            let x = sx(m.x)
            out += "<line class=\"marker\" x1=\"\(SVGText.n(x))\" y1=\"\(SVGText.n(f.y))\" x2=\"\(SVGText.n(x))\" "
                + "y2=\"\(SVGText.n(f.maxY))\" stroke=\"#888\" stroke-dasharray=\"4 3\"><title>\(SVGText.escape(m.text))</title></line>\n"
            guard let b = placer.place(m.text, px: x, py: f.y + fontSize, gap: 3) else { continue }
            out += "<text class=\"label\" data-label-box=\"\([b.x, b.y, b.width, b.height].map(SVGText.n).joined(separator: " "))\" "
                + "x=\"\(SVGText.n(b.x))\" y=\"\(SVGText.n(b.y + b.height * 0.8))\" font-size=\"\(Int(fontSize - 2))\" fill=\"#555\">"
                + "\(SVGText.escape(m.text))</text>\n"
        }
        return out
    }
}
