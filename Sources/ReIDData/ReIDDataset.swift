// ReIDDataset: the three splits of a re-identification data set (train, query,
// gallery) as image records, with the sorted, deterministic label map that turns
// training pids into classifier labels 0..<K, and the combination of several data sets
// with their pids and cameras kept apart.
import Foundation

/// One image: its path, person id and camera id as the data set's protocol defines
/// them (pid 0 distractor, pid -1 junk; camids 0-based).
public struct ImageRecord: Codable, Hashable, Sendable {
    public var path: String
    public var pid: Int
    public var camid: Int

    public init(path: String, pid: Int, camid: Int) {
        self.path = path
        self.pid = pid
        self.camid = camid
    }
}

public struct ReIDDataset: Sendable {
    public var name: String
    public var train: [ImageRecord]
    public var query: [ImageRecord]
    public var gallery: [ImageRecord]

    public init(name: String, train: [ImageRecord], query: [ImageRecord], gallery: [ImageRecord]) {
        self.name = name
        self.train = train
        self.query = query
        self.gallery = gallery
    }

    /// Training pids in ascending order; a pid's index is its classifier label.
    public var trainPids: [Int] { Array(Set(train.map(\.pid))).sorted() }

    /// pid -> label, the same on every rank (sorted).
    public var labelMap: [Int: Int] {
        var m: [Int: Int] = [:]
        for (i, p) in trainPids.enumerated() { m[p] = i }
        return m
    }

    public var numTrainPids: Int { trainPids.count }
    public var numTrainCameras: Int { Set(train.map(\.camid)).count }

    /// Fails with a message naming the split when one that is needed is empty.
    public func checkNonEmpty(train needTrain: Bool = true, test needTest: Bool = true) throws {
        if needTrain && train.isEmpty { throw DatasetError("\(name): the training split is empty") }
        if needTest && query.isEmpty { throw DatasetError("\(name): the query split is empty") }
        if needTest && gallery.isEmpty { throw DatasetError("\(name): the gallery split is empty") }
    }

    /// A one-line summary: images, identities and cameras per split.
    public var summary: String {
        func describe(_ r: [ImageRecord]) -> String {
            "\(r.count) images, \(Set(r.map(\.pid)).count) ids, \(Set(r.map(\.camid)).count) cams"
        }
        return "\(name): train \(describe(train)); query \(describe(query)); gallery \(describe(gallery))"
    }

    /// Several data sets' training splits as one, evaluated on the first set's query and
    /// gallery (torchreid's several sources, one target): pids are namespaced per data set
    /// (their order sorted by (data set index, pid)) and cameras offset so that no two data
    /// sets share one. Distractors and junk keep their meaning in the test splits (pid 0 and -1).
    public static func combine(_ sets: [ReIDDataset]) -> ReIDDataset {
        precondition(!sets.isEmpty, "ReIDDataset.combine: no data sets")
        if sets.count == 1 { return sets[0] }
        var train: [ImageRecord] = [], query: [ImageRecord] = [], gallery: [ImageRecord] = []
        var pidOffset = 0, camOffset = 0
        for (i, s) in sets.enumerated() {
            let maxPid = (s.train + s.query + s.gallery).map(\.pid).max() ?? 0
            let maxCam = (s.train + s.query + s.gallery).map(\.camid).max() ?? 0
            func shift(_ r: ImageRecord) -> ImageRecord {
                // Pid 0 too: a real identity in a training split (MSMT17's first, a CSV's); only the
                // first set's gallery, whose offset is 0, keeps Market's distractors.
                ImageRecord(path: r.path, pid: r.pid >= 0 ? r.pid + pidOffset : r.pid, camid: r.camid + camOffset)
            }
            train += s.train.map(shift)
            if i == 0 {
                query += s.query.map(shift)
                gallery += s.gallery.map(shift)
            }
            pidOffset += maxPid + 1
            camOffset += maxCam + 1
        }
        return ReIDDataset(name: sets.map(\.name).joined(separator: "+"), train: train, query: query, gallery: gallery)
    }
}

public struct DatasetError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
