// ScatterPlot: a self-contained SVG scatter plot with nice ticks in units, labels
// placed without overlap, a legend (colour per series, marker per group),
// reference lines and an optional Pareto front; margins follow the label extents.
import Foundation

/// A labelled scatter plot; `render()` gives the SVG text.
public struct ScatterPlot: Sendable {
    public var title: String
    public var xLabel, yLabel: String
    public var xUnit, yUnit: TickUnit
    public var points: [PlotPoint]
    public var references: [ReferenceLine] = []
    /// Draw the front of points with the best y for their x (lower x better).
    public var paretoFront = false
    public var width = 720.0, height = 440.0, fontSize = 12.0
    /// Start the x axis at zero (costs such as FLOPs).
    public var xFromZero = true

    public init(title: String, xLabel: String, yLabel: String, xUnit: TickUnit, yUnit: TickUnit, points: [PlotPoint]) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.xUnit = xUnit; self.yUnit = yUnit; self.points = points
    }

    /// Series (colours) and groups (markers) in first-seen order.
    var seriesNames: [String] { Self.unique(points.map(\.series)) }
    var groupNames: [String] { Self.unique(points.map(\.group)) }

    static func unique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }

    /// The legend's lines: (text, colour index or nil, marker shape or nil).
    func legendEntries() -> [(String, Int?, Int?)] {
        var out: [(String, Int?, Int?)] = []
        let s = seriesNames, g = groupNames
        if s.count > 1 || s.first != "" { out += s.enumerated().map { ($1, $0, g.contains($1) ? g.firstIndex(of: $1) : nil) } }
        if g.count > 1 || g.first != "" { out += g.enumerated().filter { !s.contains($0.element) }.map { ($1, nil, $0) } }
        return out
    }

    /// The tick sets of both axes, covering the points and reference values.
    func ticks() -> (x: NiceTicks, y: NiceTicks) {
        let xs = points.map(\.x) + references.filter(\.vertical).map(\.value)
        let ys = points.map(\.y) + references.filter { !$0.vertical }.map(\.value)
        let x0 = xFromZero ? min(0, xs.min() ?? 0) : (xs.min() ?? 0)
        let xMax = xs.max() ?? 1
        let yMin = ys.min() ?? 0, yMax = ys.max() ?? 1
        let pad = max((yMax - yMin) * 0.05, 1e-9)
        let yLow = yUnit == .percent ? max(0, yMin - pad) : yMin - pad
        let yHigh = yUnit == .percent ? min(1, yMax + pad) : yMax + pad
        return (NiceTicks(lower: x0, upper: xMax + max((xMax - x0) * 0.04, 1e-9), target: 6),
                NiceTicks(lower: yLow, upper: max(yHigh, yLow + 1e-6), target: 6))
    }

    /// The plot area (inside the axes) after margins for tick labels, axis titles and the legend.
    func plotFrame(_ t: (x: NiceTicks, y: NiceTicks)) -> Box {
        let yTickWidth = t.y.labels(yUnit).map { Box.textWidth($0, fontSize: fontSize) }.max() ?? 0
        let left = 10 + fontSize * 1.4 + yTickWidth + 8
        let lastX = t.x.labels(xUnit).last.map { Box.textWidth($0, fontSize: fontSize) / 2 } ?? 0
        let legendWidth = legendEntries().map { Box.textWidth($0.0, fontSize: fontSize) + 26 }.max() ?? 0
        let right = max(16, lastX + 4) + (legendWidth > 0 ? legendWidth + 16 : 0)
        let top = fontSize * 1.3 * 2 + 8, bottom = fontSize * 3.4 + 8
        return Box(x: left, y: top, width: max(60, width - left - right), height: max(60, height - top - bottom))
    }
}
