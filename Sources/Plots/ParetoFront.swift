// ParetoFront: the points no other point beats (lower x and higher y are better),
// drawn as a step line on the scenario plots.

public enum ParetoFront {
    /// Indices of the non-dominated points, ordered by ascending x: each has a
    /// strictly higher y than every point with smaller or equal x before it.
    public static func indices(_ points: [(x: Double, y: Double)]) -> [Int] {
        let order = points.indices.sorted { (points[$0].x, -points[$0].y) < (points[$1].x, -points[$1].y) }
        var best = -Double.infinity, out: [Int] = []
        for i in order where points[i].y > best {
            out.append(i); best = points[i].y
        }
        return out
    }

    /// The step line through the front: from each point right to the next x, then up.
    public static func stepPath(_ front: [(x: Double, y: Double)], xEnd: Double) -> [(x: Double, y: Double)] {
        var out: [(x: Double, y: Double)] = []
        for (k, p) in front.enumerated() {
            out.append(p)
            let nextX = k + 1 < front.count ? front[k + 1].x : xEnd
            out.append((nextX, p.y))
        }
        return out
    }
}
