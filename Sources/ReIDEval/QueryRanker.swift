// QueryRanker: the per-query step of the evaluation protocol — the rank of each of a
// query's positives among the kept gallery items, and from them its first rank, AP and
// INP — for one distance row of G values. Ranks come from counting, never from sorting
// the row: ties go to the lower gallery index, as a stable sort would order them.
import Foundation

struct QueryRanker: Sendable {
    /// What one query contributes to the metrics.
    struct Stats: Sendable, Equatable {
        /// 1-based rank of the nearest positive.
        var firstRank: Int
        var ap: Double
        var inp: Double
    }

    /// Gallery size G.
    let count: Int
    /// Gallery rows of junk items (pid -1): they never rank.
    private let junk: [Int]
    /// Gallery rows of each identity (pid -1 left out), ascending.
    private let rowsOfPid: [Int: [Int]]
    private let galleryCams: [Int]
    /// Above this many positives one pass with a binary search per item beats one pass per positive.
    static let passLimit = 32

    init(galleryPids: [Int], galleryCams: [Int]) {
        precondition(galleryPids.count == galleryCams.count, "QueryRanker: \(galleryPids.count) pids, \(galleryCams.count) camids")
        precondition(galleryPids.count < Int(Int32.max), "QueryRanker: gallery of \(galleryPids.count) items")
        count = galleryPids.count
        var junk: [Int] = [], rows: [Int: [Int]] = [:]
        for (j, p) in galleryPids.enumerated() {
            if p == -1 { junk.append(j) } else { rows[p, default: []].append(j) }
        }
        self.junk = junk
        rowsOfPid = rows
        self.galleryCams = galleryCams
    }

    /// The stats of a query of identity `pid` seen by camera `cam`, or nil when no positive
    /// remains after the same-camera exclusion. `row`: (G) finite distances, nearest
    /// smallest; the items that do not rank (junk, same pid and camera) are overwritten
    /// with +infinity, so pass a copy when the row must stay.
    func stats(row: UnsafeMutablePointer<Float>, pid: Int, cam: Int) -> Stats? {
        guard let same = rowsOfPid[pid] else { return nil }
        var positives: [(distance: Float, index: Int)] = []
        positives.reserveCapacity(same.count)
        for j in same {
            if galleryCams[j] == cam { row[j] = .infinity } else { positives.append((row[j], j)) }
        }
        if positives.isEmpty { return nil }
        for j in junk { row[j] = .infinity }
        // Rank order among positives: distance, then gallery index.
        positives.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.index < $1.index) }
        // preceding[k]: kept items (positives included) that sort before positive k.
        let preceding = positives.count <= Self.passLimit
            ? positives.map { Self.countBefore(row, count, $0.distance, $0.index) }
            : Self.countBefore(row, count, positives)
        var ap = 0.0
        for (k, n) in preceding.enumerated() { ap += Double(k + 1) / Double(n + 1) }
        return Stats(firstRank: preceding[0] + 1, ap: ap / Double(positives.count),
                     inp: Double(positives.count) / Double(preceding[positives.count - 1] + 1))
    }

    /// Items of `row` (G) that sort before (t, index) in (distance, index) order; +infinity
    /// never does for a finite t.
    @inline(__always)
    static func countBefore(_ row: UnsafeMutablePointer<Float>, _ g: Int, _ t: Float, _ index: Int) -> Int {
        count(row, 0..<index, below: t, orEqual: true) + count(row, index..<g, below: t, orEqual: false)
    }

    /// How many of row[range] are below t (or equal to it, with `orEqual`): 16 lanes at a
    /// time, comparisons turned into counts without branches.
    @inline(__always)
    static func count(_ row: UnsafePointer<Float>, _ range: Range<Int>, below t: Float, orEqual: Bool) -> Int {
        let raw = UnsafeRawPointer(row), limit = SIMD16<Float>(repeating: t)
        var lanes = SIMD16<Int32>()
        var j = range.lowerBound
        // A true lane of a mask is all ones (-1): subtracting the mask adds one per match.
        if orEqual {
            while j + 16 <= range.upperBound {
                let v = raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self)
                lanes &-= unsafeBitCast(v .<= limit, to: SIMD16<Int32>.self)
                j += 16
            }
        } else {
            while j + 16 <= range.upperBound {
                let v = raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self)
                lanes &-= unsafeBitCast(v .< limit, to: SIMD16<Int32>.self)
                j += 16
            }
        }
        var n = Int(lanes.wrappedSum())
        while j < range.upperBound {
            if orEqual ? row[j] <= t : row[j] < t { n += 1 }
            j += 1
        }
        return n
    }

    /// The same counts for many sorted positives in one pass: each item nearer than the
    /// last positive finds, by binary search, the first positive it does not precede.
    static func countBefore(_ row: UnsafeMutablePointer<Float>, _ g: Int,
                            _ positives: [(distance: Float, index: Int)]) -> [Int] {
        var slot = [Int](repeating: 0, count: positives.count + 1)
        let last = positives[positives.count - 1]
        for j in 0..<g {
            let v = row[j]
            if v > last.distance || (v == last.distance && j >= last.index) { continue }
            var lo = 0, hi = positives.count
            while lo < hi {
                let mid = (lo + hi) / 2
                let p = positives[mid]
                if v < p.distance || (v == p.distance && j < p.index) { hi = mid } else { lo = mid + 1 }
            }
            slot[lo] += 1
        }
        var running = 0
        return positives.indices.map { k in
            running += slot[k]
            return running
        }
    }
}
