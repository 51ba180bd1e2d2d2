// LinePlot: a self-contained SVG line chart (training curves): one colour per
// series with a legend, nice ticks in units, vertical event markers (pruning
// rounds) labelled above the frame, and an optional step line on a second,
// right-hand y axis with its own nice ticks (GFLOPs after each round).
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
    /// Vertical lines at x with a short label above the frame ("round 1") and a hover
    /// title ("round 1: 0.019 GFLOPs").
    public var markers: [(x: Double, label: String, title: String)] = []
    /// A step line on its own right-hand axis (drawn in dark grey, named in the legend).
    public var rightAxis: RightAxis?
    public var width = 720.0, height = 320.0, fontSize = 12.0

    public init(title: String, xLabel: String, yLabel: String, yUnit: TickUnit, series: [Series]) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.yUnit = yUnit; self.series = series
    }

    /// The second y axis and its step lines.
    public struct RightAxis: Sendable {
        /// A step line: `steps` are (x, value) where the value starts to hold; the line runs
        /// flat to the next step (and to the axis' `xEnd`), then jumps. Drawn in the palette
        /// colour `color` (dotted, beside lines of that colour) or, without one, solid dark grey.
        public struct Line: Sendable {
            public var name: String
            public var steps: [(x: Double, y: Double)]
            public var color: Int?
            public init(name: String, steps: [(x: Double, y: Double)], color: Int? = nil) {
                self.name = name; self.steps = steps; self.color = color
            }
        }

        public var label: String
        public var unit: TickUnit
        public var lines: [Line]
        public var xEnd: Double

        public init(label: String, unit: TickUnit, lines: [Line], xEnd: Double) {
            self.label = label; self.unit = unit; self.lines = lines; self.xEnd = xEnd
        }

        /// One solid dark-grey step line named `name`.
        public init(name: String, label: String, unit: TickUnit, steps: [(x: Double, y: Double)], xEnd: Double) {
            self.init(label: label, unit: unit, lines: [Line(name: name, steps: steps)], xEnd: xEnd)
        }

        /// The ticks of the axis, from zero (a cost) to above the largest value.
        var ticks: NiceTicks {
            let ys = lines.flatMap { $0.steps.map(\.y) }
            return NiceTicks(lower: min(0, ys.min() ?? 0), upper: (ys.max() ?? 1) * 1.04, target: 5)
        }

        /// A step line's vertices: flat from each step to the next x, then vertical.
        func path(_ line: Line) -> [(x: Double, y: Double)] {
            var out: [(x: Double, y: Double)] = []
            for (k, s) in line.steps.enumerated() {
                out.append(s)
                out.append((k + 1 < line.steps.count ? line.steps[k + 1].x : max(xEnd, s.x), s.y))
            }
            return out
        }

        static func stroke(_ line: Line) -> (color: String, dash: String) {
            line.color.map { (SVGText.color($0), "2 3") } ?? (LinePlot.rightColor, "")
        }

        /// Pixels the right margin needs for the tick labels and the rotated axis title.
        func margin(fontSize: Double) -> Double {
            (ticks.labels(unit).map { Box.textWidth($0, fontSize: fontSize) }.max() ?? 0) + 6 + fontSize * 1.4 + 8
        }
    }

    /// The legend's lines: (name, colour, dash pattern); the right axis' lines last.
    var legendEntries: [(String, String, String)] {
        let own = series.enumerated().map { (k, s) in (s.name, SVGText.color(s.color ?? k), s.dashed ? "4 2" : "") }
        let right = (rightAxis?.lines ?? []).map { l in (l.name, RightAxis.stroke(l).color, RightAxis.stroke(l).dash) }
        return (series.count > 1 || rightAxis != nil ? own : []) + right
    }

    static let rightColor = "#444"

    /// The whole chart as one SVG document; a plot with no points says so in its frame.
    public func render() -> String {
        let xs = series.flatMap { $0.points.map(\.x) } + markers.map(\.x) + (rightAxis?.lines.flatMap { $0.steps.map(\.x) } ?? [])
        let ys = series.flatMap { $0.points.map(\.y) }
        let tx = NiceTicks(lower: min(0, xs.min() ?? 0), upper: xs.max() ?? 1, target: 8)
        let yLow = ys.min() ?? 0, yHigh = ys.max() ?? 1
        let base = yLow >= 0 ? 0 : yLow
        let ty = NiceTicks(lower: base, upper: yHigh + max(yHigh - base, 1e-12) * 0.04, target: 5)
        var frame = ScatterPlot(title: title, xLabel: xLabel, yLabel: yLabel, xUnit: .plain, yUnit: yUnit, points: [])
        (frame.width, frame.height, frame.fontSize) = (width, height, fontSize)
        var f = frame.plotFrame((tx, ty))
        let legend = legendEntries
        let legendWidth = legend.map { Box.textWidth($0.0, fontSize: fontSize) + 26 }.max() ?? 0
        let rightMargin = rightAxis?.margin(fontSize: fontSize) ?? 0
        if !legend.isEmpty { f.width -= legendWidth + 16 }
        f.width -= rightMargin
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
        if let r = rightAxis { out += right(r, f, sx) }
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
        if !legend.isEmpty {
            out += "<g class=\"legend\">\n"
            for (k, e) in legend.enumerated() {
                let y = f.y + 8 + Double(k) * fontSize * 1.5, x = f.maxX + rightMargin + 16
                let dash = e.2.isEmpty ? "" : " stroke-dasharray=\"\(e.2)\""
                out += "<line x1=\"\(n(x))\" y1=\"\(n(y))\" x2=\"\(n(x + 14))\" y2=\"\(n(y))\" "
                    + "stroke=\"\(e.1)\" stroke-width=\"2\"\(dash)/><text x=\"\(n(x + 18))\" y=\"\(n(y + fontSize * 0.35))\">\(SVGText.escape(e.0))</text>\n"
            }
            out += "</g>\n"
        }
        return out + "</svg>\n"
    }

    /// The right-hand axis (line, ticks, rotated title) and its step line.
    func right(_ r: RightAxis, _ f: Box, _ sx: LinearScale) -> String {
        let n = SVGText.n, t = r.ticks
        let sy = LinearScale(domain: (t.lower, t.upper), range: (f.maxY, f.y))
        var out = "<g class=\"right-axis\" fill=\"\(Self.rightColor)\">\n"
        for (v, s) in zip(t.values, t.labels(r.unit)) {
            out += "<line x1=\"\(n(f.maxX))\" y1=\"\(n(sy(v)))\" x2=\"\(n(f.maxX + 4))\" y2=\"\(n(sy(v)))\" stroke=\"#333\"/>"
                + "<text x=\"\(n(f.maxX + 6))\" y=\"\(n(sy(v) + fontSize * 0.35))\">\(SVGText.escape(s))</text>\n"
        }
        let tx = f.maxX + r.margin(fontSize: fontSize) - 6, ym = f.y + f.height / 2
        out += "<text x=\"\(n(tx))\" y=\"\(n(ym))\" text-anchor=\"middle\" transform=\"rotate(-90 \(n(tx)) \(n(ym)))\">"
            + "\(SVGText.escape(r.label))</text>\n</g>\n"
        for line in r.lines where !line.steps.isEmpty {
            let d = r.path(line).map { "\(n(sx($0.x))),\(n(sy($0.y)))" }.joined(separator: " ")
            let (color, dash) = RightAxis.stroke(line)
            out += "<polyline class=\"steps\" points=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" "
                + (dash.isEmpty ? "" : "stroke-dasharray=\"\(dash)\" ")
                + "stroke-linejoin=\"miter\"><title>\(SVGText.escape(line.name))</title></polyline>\n"
        }
        return out
    }

    /// Dashed vertical lines, each labelled in the strip between the title and the frame
    /// (right of its line, else left); a label that fits nowhere is left to the title.
    func markerLines(_ f: Box, _ sx: LinearScale) -> String {
        let small = fontSize - 2, top = fontSize * 1.6 + 5
        let strip = Box(x: 0, y: top, width: width, height: max(0, f.y - top - 1))
        var placer = LabelPlacer(frame: strip, fontSize: small)
        var out = ""
        for m in markers {
            let x = sx(m.x)
            out += "<line class=\"marker\" x1=\"\(SVGText.n(x))\" y1=\"\(SVGText.n(f.y))\" x2=\"\(SVGText.n(x))\" "
                + "y2=\"\(SVGText.n(f.maxY))\" stroke=\"#888\" stroke-dasharray=\"4 3\"><title>\(SVGText.escape(m.title))</title></line>\n"
            guard let b = placer.place(m.label, px: x, py: strip.y + strip.height / 2, gap: 2) else { continue }
            out += "<text class=\"label\" data-label-box=\"\([b.x, b.y, b.width, b.height].map(SVGText.n).joined(separator: " "))\" "
                + "x=\"\(SVGText.n(b.x))\" y=\"\(SVGText.n(b.y + b.height * 0.8))\" font-size=\"\(Int(small))\" fill=\"#555\">"
                + "<title>\(SVGText.escape(m.title))</title>\(SVGText.escape(m.label))</text>\n"
        }
        return out
    }
}
