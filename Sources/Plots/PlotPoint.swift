// PlotPoint and ReferenceLine: the data a ScatterPlot draws — labelled points
// coloured by series and shaped by group, and horizontal reference lines.

/// One point: `series` picks its colour (e.g. a criterion), `group` its marker (e.g. a scenario).
public struct PlotPoint: Sendable {
    public var x, y: Double
    public var label: String
    public var series: String
    public var group: String

    public init(x: Double, y: Double, label: String, series: String, group: String) {
        self.x = x; self.y = y; self.label = label; self.series = series; self.group = group
    }
}

/// A horizontal line at `y` (a baseline's value) or, with `vertical`, a vertical one at `x = value`.
public struct ReferenceLine: Sendable {
    public var value: Double
    public var label: String
    public var vertical: Bool

    public init(value: Double, label: String, vertical: Bool = false) {
        self.value = value; self.label = label; self.vertical = vertical
    }
}
