// HeatMap: a small self-contained SVG grid chart — one row per item (a channel group),
// one column per step (a pruning round), each cell shaded by a value in 0...1 and
// carrying a short text; row and column labels, a colour scale, a tested layout.
import Foundation

/// A grid of shaded cells; `layout()` gives every box, `render()` the SVG text.
public struct HeatMap: Sendable {
    public struct Cell: Sendable {
        /// Shade, 0 (light) ... 1 (dark), clipped.
        public var value: Double
        public var text: String
        /// Hover text.
        public var title: String
        public init(value: Double, text: String, title: String) { self.value = value; self.text = text; self.title = title }
    }

    public var title: String
    public var rowLabels: [String]
    public var columnLabels: [String]
    /// cells[row][column]; nil leaves the cell empty.
    public var cells: [[Cell?]]
    /// What the shade means, under the colour scale ("share of channels kept").
    public var scaleLabel: String
    public var fontSize = 12.0

    public init(title: String, rowLabels: [String], columnLabels: [String], cells: [[Cell?]], scaleLabel: String) {
        precondition(cells.count == rowLabels.count && cells.allSatisfy { $0.count == columnLabels.count },
                     "HeatMap: cells must be rows x columns")
        self.title = title; self.rowLabels = rowLabels; self.columnLabels = columnLabels; self.cells = cells
        self.scaleLabel = scaleLabel
    }

    /// Every box of the chart in pixels: the whole size, the cells [row][column], the
    /// row and column label boxes (text extents) and the colour scale.
    public struct Layout: Sendable {
        public var width, height: Double
        public var cells: [[Box]]
        public var rowLabels, columnLabels: [Box]
        public var scale: Box
        public var titleBox: Box
    }

    /// Cells wide enough for the longest cell text and column label, rows as tall as
    /// the text; row labels right-aligned in a column as wide as the longest; the
    /// colour scale below the grid.
    public func layout() -> Layout {
        let pad = 8.0, rowHeight = fontSize * 1.6
        let labelWidth = rowLabels.map { Box.textWidth($0, fontSize: fontSize) }.max() ?? 0
        let texts = cells.flatMap { $0.compactMap { $0?.text } }
        let cellWidth = max(48, (texts + columnLabels).map { Box.textWidth($0, fontSize: fontSize) }.max() ?? 0) + 10
        let titleBox = Box(x: pad, y: pad, width: Box.textWidth(title, fontSize: fontSize + 1), height: (fontSize + 1) * 1.2)
        let gridX = pad + labelWidth + 8, headerY = titleBox.maxY + 6
        let gridY = headerY + fontSize * 1.4
        let columnBoxes = columnLabels.indices.map { c -> Box in
            let w = Box.textWidth(columnLabels[c], fontSize: fontSize)
            return Box(x: gridX + Double(c) * cellWidth + (cellWidth - w) / 2, y: headerY, width: w, height: fontSize * 1.2)
        }
        let cellBoxes = rowLabels.indices.map { r in
            columnLabels.indices.map { c in
                Box(x: gridX + Double(c) * cellWidth, y: gridY + Double(r) * rowHeight, width: cellWidth, height: rowHeight)
            }
        }
        let rowBoxes = rowLabels.indices.map { r -> Box in
            let w = Box.textWidth(rowLabels[r], fontSize: fontSize)
            return Box(x: gridX - 8 - w, y: gridY + Double(r) * rowHeight + (rowHeight - fontSize * 1.2) / 2, width: w,
                       height: fontSize * 1.2)
        }
        let gridBottom = gridY + Double(rowLabels.count) * rowHeight
        let scaleText = Box.textWidth("0% " + scaleLabel + " 100%", fontSize: fontSize - 1)
        let scale = Box(x: gridX, y: gridBottom + 10, width: 120 + scaleText, height: fontSize * 1.2)
        let width = max(gridX + Double(columnLabels.count) * cellWidth, scale.maxX, titleBox.maxX) + pad
        return Layout(width: width.rounded(.up), height: (scale.maxY + pad).rounded(.up), cells: cellBoxes,
                      rowLabels: rowBoxes, columnLabels: columnBoxes, scale: scale, titleBox: titleBox)
    }

    /// A blue shade: white-ish at 0, deep blue at 1; dark cells get white text.
    static func shade(_ v: Double) -> (fill: String, text: String) {
        let t = min(1, max(0, v))
        let (r, g, b) = (235 - 205 * t, 242 - 150 * t, 255 - 75 * t)
        return (String(format: "rgb(%d,%d,%d)", Int(r), Int(g), Int(b)), t > 0.55 ? "white" : "#222")
    }

    public func render() -> String {
        let l = layout(), n = SVGText.n, fs = fontSize
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot heatmap\" width=\"\(Int(l.width))\" "
            + "height=\"\(Int(l.height))\" viewBox=\"0 0 \(Int(l.width)) \(Int(l.height))\" font-family=\"sans-serif\" "
            + "font-size=\"\(Int(fs))\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(n(l.titleBox.x))\" y=\"\(n(l.titleBox.y + l.titleBox.height * 0.8))\" font-size=\"\(Int(fs + 1))\">"
            + "\(SVGText.escape(title))</text>\n"
        for (b, s) in zip(l.columnLabels, columnLabels) { out += label(s, b) }
        for (b, s) in zip(l.rowLabels, rowLabels) { out += label(s, b) }
        for (r, row) in cells.enumerated() {
            for (c, cell) in row.enumerated() {
                let b = l.cells[r][c]
                guard let cell else {
                    out += "<rect x=\"\(n(b.x))\" y=\"\(n(b.y))\" width=\"\(n(b.width))\" height=\"\(n(b.height))\" "
                        + "fill=\"#fafafa\" stroke=\"white\"/>\n"
                    continue
                }
                let s = Self.shade(cell.value)
                out += "<g><title>\(SVGText.escape(cell.title))</title><rect class=\"cell\" x=\"\(n(b.x))\" y=\"\(n(b.y))\" "
                    + "width=\"\(n(b.width))\" height=\"\(n(b.height))\" fill=\"\(s.fill)\" stroke=\"white\"/>"
                    + "<text x=\"\(n(b.x + b.width / 2))\" y=\"\(n(b.y + b.height / 2 + fs * 0.35))\" text-anchor=\"middle\" "
                    + "fill=\"\(s.text)\">\(SVGText.escape(cell.text))</text></g>\n"
            }
        }
        // The colour scale: a gradient bar from 0% to 100% with its meaning.
        let sc = l.scale, bar = 100.0, small = Int(fs - 1)
        let lead = Box.textWidth("0% ", fontSize: fs - 1)
        out += "<g class=\"scale\" font-size=\"\(small)\"><text x=\"\(n(sc.x))\" y=\"\(n(sc.y + sc.height * 0.8))\">0%</text>\n"
        for k in 0..<10 {
            out += "<rect x=\"\(n(sc.x + lead + Double(k) * bar / 10))\" y=\"\(n(sc.y + 2))\" width=\"\(n(bar / 10 + 0.5))\" "
                + "height=\"\(n(sc.height - 4))\" fill=\"\(Self.shade((Double(k) + 0.5) / 10).fill)\"/>"
        }
        out += "\n<text x=\"\(n(sc.x + lead + bar + 4))\" y=\"\(n(sc.y + sc.height * 0.8))\">100% "
            + "\(SVGText.escape(scaleLabel))</text></g>\n"
        return out + "</svg>\n"
    }

    func label(_ s: String, _ b: Box) -> String {
        let box = [b.x, b.y, b.width, b.height].map(SVGText.n).joined(separator: " ")
        return "<text class=\"label\" data-label-box=\"\(box)\" x=\"\(SVGText.n(b.x))\" y=\"\(SVGText.n(b.y + b.height * 0.8))\">"
            + "\(SVGText.escape(s))</text>\n"
    }
}
