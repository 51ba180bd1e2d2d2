// SVGText: small helpers shared by the plots — escaping, number formatting,
// the colour palette and the marker shapes.
import Foundation

public enum SVGText {
    /// `s` safe inside SVG/HTML text and attribute values.
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A coordinate with one decimal.
    public static func n(_ v: Double) -> String { String(format: "%.1f", v) }

    /// Colour-blind-friendly palette (Okabe–Ito, then Tableau), one colour per series.
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                                 "#8c564b", "#7f7f7f", "#bcbd22"]

    public static func color(_ index: Int) -> String { palette[index % palette.count] }

    /// An SVG element drawing marker shape `shape` (0 circle, 1 square, 2 triangle, 3 diamond,
    /// 4 down-triangle, 5 cross) of radius `r` at (x, y).
    public static func marker(_ shape: Int, x: Double, y: Double, r: Double, fill: String) -> String {
        func poly(_ pts: [(Double, Double)]) -> String {
            "<polygon points=\"" + pts.map { "\(n(x + $0.0 * r)),\(n(y + $0.1 * r))" }.joined(separator: " ")
                + "\" fill=\"\(fill)\" stroke=\"white\" stroke-width=\"0.8\"/>"
        }
        switch shape % 6 {
        case 0: return "<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"\(n(r))\" fill=\"\(fill)\" stroke=\"white\" stroke-width=\"0.8\"/>"
        case 1: return poly([(-0.9, -0.9), (0.9, -0.9), (0.9, 0.9), (-0.9, 0.9)])
        case 2: return poly([(0, -1.15), (1, 0.75), (-1, 0.75)])
        case 3: return poly([(0, -1.2), (1.2, 0), (0, 1.2), (-1.2, 0)])
        case 4: return poly([(0, 1.15), (1, -0.75), (-1, -0.75)])
        default:
            return poly([(-1, -0.35), (-0.35, -0.35), (-0.35, -1), (0.35, -1), (0.35, -0.35), (1, -0.35), (1, 0.35),
                         (0.35, 0.35), (0.35, 1), (-0.35, 1), (-0.35, 0.35), (-1, 0.35)])
        }
    }
}
