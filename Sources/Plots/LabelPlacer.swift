// LabelPlacer: greedy placement of point labels around their points, checked
// against other labels, the point markers and the plot frame; labels that fit
// nowhere are reported so the legend and an SVG <title> carry them instead.

/// Places text boxes next to anchor points without overlaps.
public struct LabelPlacer: Sendable {
    /// The area labels must stay inside.
    public let frame: Box
    public let fontSize: Double
    /// Boxes nothing may overlap (markers, placed labels).
    public private(set) var occupied: [Box]

    public init(frame: Box, fontSize: Double, obstacles: [Box] = []) {
        self.frame = frame; self.fontSize = fontSize; occupied = obstacles
    }

    /// The box a label `text` takes with its top-left corner at (x, y).
    public func box(_ text: String, x: Double, y: Double) -> Box {
        Box(x: x, y: y, width: Box.textWidth(text, fontSize: fontSize), height: fontSize * 1.2)
    }

    /// Places `text` near (px, py): tries positions right, left, above and below the point,
    /// nearest first, stacking rows outwards, and returns the first box inside the frame
    /// that overlaps nothing (which is then occupied), or nil.
    public mutating func place(_ text: String, px: Double, py: Double, gap: Double = 6) -> Box? {
        let w = Box.textWidth(text, fontSize: fontSize), h = fontSize * 1.2
        for b in candidates(w: w, h: h, px: px, py: py, gap: gap)
        where frame.contains(b) && !occupied.contains(where: { $0.overlaps(b) }) {
            occupied.append(b)
            return b
        }
        return nil
    }

    /// Candidate boxes ordered by distance from the point.
    func candidates(w: Double, h: Double, px: Double, py: Double, gap: Double) -> [Box] {
        var out: [(Double, Box)] = []
        for row in -12...12 {
            let y = py - h / 2 + Double(row) * (h + 1)
            for x in [px + gap, px - gap - w] {
                out.append((abs(Double(row)) * h, Box(x: x, y: y, width: w, height: h)))
            }
        }
        for ring in 0..<6 {
            let d = gap + Double(ring) * h
            for b in [Box(x: px - w / 2, y: py - h - d, width: w, height: h), Box(x: px - w / 2, y: py + d, width: w, height: h)] {
                out.append((d + h / 2 - 0.1, b))
            }
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
