// SynthReID+Layout: the folder layout a SynthReID set is written in. Within Market-1501's
// ranges (at most 1501 identities, 6 cameras): Market's, bounding_box_train/, query/ and
// bounding_box_test/ with names such as 0002_c1s1_000451_03.jpg. Beyond them, where
// Market's reader refuses the pids and more cameras read as DukeMTMC: the custom CSV
// layout, train/, query/ and gallery/ with the same names, listed in train.csv, query.csv
// and gallery.csv as path,pid,camid (junk -1 and distractors 0 keep their pids).
import Foundation

extension SynthOptions {
    /// Why these options do not fit Market-1501's ranges ("more than 1501 identities",
    /// "more than 6 cameras", or both), nil when they do.
    public var customLayoutReason: String? {
        var reasons: [String] = []
        if ids > DatasetReader.marketMaxPid { reasons.append("more than \(DatasetReader.marketMaxPid) identities") }
        if cameras > DatasetReader.marketCameras.upperBound {
            reasons.append("more than \(DatasetReader.marketCameras.upperBound) cameras")
        }
        return reasons.isEmpty ? nil : reasons.joined(separator: " and ")
    }

    /// The layout the generator writes for these options: `.market1501` or `.custom`.
    public var layout: DatasetKind { customLayoutReason == nil ? .market1501 : .custom }
}

extension SynthReID {
    enum Split: CaseIterable { case train, query, gallery }

    /// The folder of `split` in `layout` (`.market1501` or `.custom`).
    static func folder(_ split: Split, _ layout: DatasetKind) -> String {
        switch (split, layout) {
        case (.train, .market1501): return "bounding_box_train"
        case (.train, _): return "train"
        case (.query, _): return "query"
        case (.gallery, .market1501): return "bounding_box_test"
        case (.gallery, _): return "gallery"
        }
    }

    /// Writes `train.csv`, `query.csv` and `gallery.csv` into `root`: a header, then a line
    /// `path,pid,camid` (camids 0-based) per image of the split, sorted by file name as a
    /// folder listing would be.
    static func writeLists(_ jobs: [Job], into root: String) throws {
        for split in Split.allCases {
            let dir = folder(split, .custom)
            var text = "path,pid,camid\n"
            for job in jobs.filter({ $0.split == split }).sorted(by: { $0.name < $1.name }) {
                text += "\(dir)/\(job.name),\(job.pid),\(job.camid)\n"
            }
            try Data(text.utf8).write(to: URL(fileURLWithPath: "\(root)/\(dir).csv"))
        }
    }
}
