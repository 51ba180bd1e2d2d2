// MarkerSpread: keeps every point of a scatter plot visible when several fall on the
// same or nearly the same pixel: such points form a cluster, and its markers are
// moved onto a small ring around the cluster's centre (deterministic, in input order).
import Foundation

/// Where markers are drawn, and which points share a place.
public enum MarkerSpread {
    /// Clusters of points whose centres lie closer than `radius` (transitively), each
    /// cluster's indices ascending, clusters ordered by their first index.
    public static func clusters(_ centres: [(x: Double, y: Double)], radius: Double) -> [[Int]] {
        var parent = Array(centres.indices)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        for i in centres.indices {
            for j in centres.indices where j > i {
                let dx = centres[i].x - centres[j].x, dy = centres[i].y - centres[j].y
                if dx * dx + dy * dy < radius * radius { parent[root(j)] = root(i) }
            }
        }
        var byRoot: [Int: [Int]] = [:]
        for i in centres.indices { byRoot[root(i), default: []].append(i) }
        return byRoot.values.sorted { $0[0] < $1[0] }
    }

    /// Drawing positions for markers of radius `r` at `centres`: points alone (no other
    /// centre within r, where one marker would hide most of another) stay where they
    /// are; the m points of a cluster go onto a ring around the cluster's mean,
    /// starting at the top and going clockwise, with neighbours at least 2.4 r apart so
    /// no marker covers another.
    public static func positions(_ centres: [(x: Double, y: Double)], r: Double) -> [(x: Double, y: Double)] {
        var out = centres
        for c in clusters(centres, radius: r) where c.count > 1 {
            let mx = c.map { centres[$0].x }.reduce(0, +) / Double(c.count)
            let my = c.map { centres[$0].y }.reduce(0, +) / Double(c.count)
            let m = Double(c.count)
            let ring = max(1.2 * r, 1.2 * r / sin(Double.pi / m))
            for (k, i) in c.enumerated() {
                let a = 2 * Double.pi * Double(k) / m - Double.pi / 2
                out[i] = (mx + ring * cos(a), my + ring * sin(a))
            }
        }
        return out
    }
}
