// Box: an axis-aligned rectangle in SVG pixel coordinates (y grows downwards),
// used to check that labels, markers and the plot frame do not collide.

/// A rectangle `x ..< x + width`, `y ..< y + height` in pixels.
public struct Box: Equatable, Sendable {
    public var x, y, width, height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    public var maxX: Double { x + width }
    public var maxY: Double { y + height }

    /// True when the two boxes share some area (touching edges, within 1e-6 px, do not count).
    public func overlaps(_ o: Box) -> Bool {
        let e = 1e-6
        return x < o.maxX - e && o.x < maxX - e && y < o.maxY - e && o.y < maxY - e
    }

    /// True when `o` lies entirely inside this box.
    public func contains(_ o: Box) -> Bool {
        let e = 1e-6
        return o.x >= x - e && o.y >= y - e && o.maxX <= maxX + e && o.maxY <= maxY + e
    }

    /// The estimated extent of `text` at `fontSize` with a fixed character width (0.6 em).
    public static func textWidth(_ text: String, fontSize: Double) -> Double {
        Double(text.count) * fontSize * 0.6
    }
}
