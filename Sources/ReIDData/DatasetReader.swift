// DatasetReader: reads the folder layouts torchreid and fast-reid users have, with
// their file-name rules: Market-1501 (and its flat layout), DukeMTMC-reID, CUHK03-NP
// (detected or labeled), MSMT17 V1 and V2 (list files), and a documented custom layout
// (a folder per identity, or CSV files). A folder that matches none fails saying what
// was expected.
import Foundation

public enum DatasetKind: String, Codable, CaseIterable, Sendable {
    case market1501, dukemtmc, cuhk03, msmt17, custom
}

public struct ReaderOptions: Sendable {
    /// CUHK03-NP: use the `labeled` boxes instead of the `detected` ones.
    public var cuhk03Labeled = false
    /// MSMT17: add `list_val.txt` to the training split (32,621 images instead of the 30,248
    /// of `list_train.txt`, which is all torchreid trains on unless it combines every split).
    public var msmt17Val = false
    public init() {}
}

public enum DatasetReader {
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]
    /// Market-1501's ranges: pids -1...1501 (junk, distractors, identities), cameras c1...c6.
    public static let marketMaxPid = 1501
    public static let marketCameras = 1...6

    /// Reads `root` as `kind`, or detects the layout when `kind` is nil.
    public static func read(root: String, kind: DatasetKind? = nil, options: ReaderOptions = ReaderOptions()) throws
        -> ReIDDataset {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir) else {
            throw DatasetError("\(root): no such folder")
        }
        guard isDir.boolValue else { throw DatasetError("\(root): is a file, not a data set folder") }
        let kind = try kind ?? detect(root)
        switch kind {
        case .market1501:
            return try marketStyle(root: try locate(root, ["Market-1501-v15.09.15", "Market-1501", "market1501",
                                                           "market1501/Market-1501-v15.09.15"],
                                                    marker: "bounding_box_train", kind: kind),
                                   name: "market1501", cameras: marketCameras, maxPid: marketMaxPid)
        case .dukemtmc:
            return try marketStyle(root: try locate(root, ["DukeMTMC-reID", "dukemtmc-reid", "dukemtmc-reid/DukeMTMC-reID"],
                                                    marker: "bounding_box_train",
                                                    kind: kind), name: "dukemtmc", cameras: 1...8, maxPid: nil)
        case .cuhk03:
            let sub = options.cuhk03Labeled ? "labeled" : "detected"
            let base = try locate(root, ["cuhk03-np", "cuhk03_np", "CUHK03-NP"], marker: sub, kind: kind)
            return try marketStyle(root: base + "/" + sub, name: "cuhk03-np-\(sub)", cameras: 1...2, maxPid: nil)
        case .msmt17:
            return try msmt17(root, withVal: options.msmt17Val)
        case .custom:
            return try custom(root)
        }
    }

    /// Which layout a folder holds; fails listing what each layout expects.
    public static func detect(_ root: String) throws -> DatasetKind {
        let fm = FileManager.default
        func has(_ p: String) -> Bool { fm.fileExists(atPath: root + "/" + p) }
        // A torchreid data root holds several sets, each in its folder: which one is the user's to say.
        let named: [(DatasetKind, Bool)] = [
            (.market1501, has("Market-1501-v15.09.15") || has("Market-1501") || has("market1501")),
            (.dukemtmc, has("DukeMTMC-reID") || has("dukemtmc-reid")),
            (.cuhk03, has("cuhk03-np") || has("cuhk03_np") || has("CUHK03-NP") || has("detected/bounding_box_train")
                || has("labeled/bounding_box_train")),
            (.msmt17, has("MSMT17_V1") || has("MSMT17_V2") || has("MSMT17") || has("msmt17") || has("list_train.txt")),
        ]
        let found = named.filter(\.1).map(\.0)
        if found.count > 1 {
            throw DatasetError("\(root): holds several data sets (\(found.map(\.rawValue).joined(separator: ", "))): "
                               + "name one with data.kind, or point at its own folder")
        }
        if let kind = found.first { return kind }
        if has("bounding_box_train") && has("query") && has("bounding_box_test") {
            // Flat Market-style folders: Duke's cameras go up to 8, Market's to 6.
            let names = (try? fm.contentsOfDirectory(atPath: root + "/bounding_box_train")) ?? []
            let cams = names.compactMap { parseMarketName($0)?.camid }
            return (cams.max() ?? 1) > marketCameras.upperBound ? .dukemtmc : .market1501
        }
        if (has("train") && has("query") && has("gallery")) || has("train.csv") { return .custom }
        throw DatasetError("""
            \(root): the folder matches no known data set layout. Expected one of:
              Market-1501: Market-1501-v15.09.15/ (or the flat layout) with bounding_box_train/, query/, bounding_box_test/
              DukeMTMC-reID: DukeMTMC-reID/ with the same three folders
              CUHK03-NP: cuhk03-np/detected/ and cuhk03-np/labeled/, each with the same three folders
              MSMT17: MSMT17_V1/ (train/, test/) or MSMT17_V2/ (mask_train_v2/, mask_test_v2/) with list_train.txt, list_val.txt, list_query.txt, list_gallery.txt
              custom: train/, query/, gallery/ holding a folder per identity, or train.csv, query.csv, gallery.csv (path,pid[,camid])
            """)
    }

    /// The first existing candidate subfolder of root, or root itself when it holds `marker`.
    static func locate(_ root: String, _ candidates: [String], marker: String, kind: DatasetKind) throws -> String {
        let fm = FileManager.default
        for c in candidates where fm.fileExists(atPath: "\(root)/\(c)/\(marker)") { return "\(root)/\(c)" }
        if fm.fileExists(atPath: "\(root)/\(marker)") { return root }
        throw DatasetError("\(root): not a \(kind.rawValue) folder: expected \(candidates.map { $0 + "/" }.joined(separator: " or ")) "
                           + "or \(marker)/ directly inside")
    }

    // MARK: Market-style names

    public static let marketRule = "<pid>_c<camera>..., for example 0002_c1s1_000451_03.jpg (pid -1 is junk, 0 a distractor)"

    /// (pid, 1-based camera) from a Market-style file name, or nil when it breaks the rule.
    public static func parseMarketName(_ name: String) -> (pid: Int, camid: Int)? {
        var s = Substring(name)
        var sign = 1
        if s.first == "-" { sign = -1; s = s.dropFirst() }
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let pid = Int(digits) else { return nil }
        s = s.dropFirst(digits.count)
        guard s.hasPrefix("_c") else { return nil }
        s = s.dropFirst(2)
        let cam = s.prefix { $0.isASCII && $0.isNumber }
        guard !cam.isEmpty, let camid = Int(cam) else { return nil }
        return (sign * pid, camid)
    }

    static func imageFiles(_ dir: String) throws -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir) else {
            throw DatasetError("\(dir): missing or unreadable folder")
        }
        // Hidden files (a copy's "._" resource forks, say) are not images of the set.
        return names.filter { !$0.hasPrefix(".") && imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .sorted()
    }

    static func marketSplit(_ dir: String, cameras: ClosedRange<Int>, maxPid: Int?, relabelJunk: Bool) throws
        -> [ImageRecord] {
        var records: [ImageRecord] = []
        for name in try imageFiles(dir) {
            guard let (pid, cam) = parseMarketName(name) else {
                throw DatasetError("\(dir)/\(name): file name breaks the naming rule \(marketRule)")
            }
            guard cameras.contains(cam) else {
                throw DatasetError("\(dir)/\(name): camera \(cam) outside \(cameras.lowerBound)...\(cameras.upperBound) "
                                   + "for this data set (rule: \(marketRule))")
            }
            if let maxPid, pid > maxPid || pid < -1 {
                throw DatasetError("\(dir)/\(name): pid \(pid) outside -1...\(maxPid) (rule: \(marketRule))")
            }
            if pid == -1 { continue }  // junk never enters a split
            records.append(ImageRecord(path: "\(dir)/\(name)", pid: pid, camid: cam - 1))
        }
        return records
    }

    static func marketStyle(root: String, name: String, cameras: ClosedRange<Int>, maxPid: Int?) throws -> ReIDDataset {
        var train = try marketSplit(root + "/bounding_box_train", cameras: cameras, maxPid: maxPid, relabelJunk: true)
        train.removeAll { $0.pid == 0 }  // distractors are for the gallery only
        let query = try marketSplit(root + "/query", cameras: cameras, maxPid: maxPid, relabelJunk: false)
        let gallery = try marketSplit(root + "/bounding_box_test", cameras: cameras, maxPid: maxPid, relabelJunk: false)
        return ReIDDataset(name: name, train: train, query: query, gallery: gallery)
    }

    // MARK: MSMT17

    static func msmt17(_ root: String, withVal: Bool) throws -> ReIDDataset {
        let fm = FileManager.default
        var base = root
        // With both versions present, V1 first, as torchreid picks.
        for c in ["MSMT17_V1", "MSMT17_V2", "MSMT17", "msmt17/MSMT17_V1", "msmt17/MSMT17_V2"]
        where fm.fileExists(atPath: "\(root)/\(c)/list_train.txt") {
            base = "\(root)/\(c)"
            break
        }
        let (trainDir, testDir): (String, String)
        if fm.fileExists(atPath: base + "/mask_train_v2") {
            (trainDir, testDir) = (base + "/mask_train_v2", base + "/mask_test_v2")
        } else if fm.fileExists(atPath: base + "/train") {
            (trainDir, testDir) = (base + "/train", base + "/test")
        } else {
            throw DatasetError("\(base): MSMT17 needs train/ and test/ (V1) or mask_train_v2/ and mask_test_v2/ (V2) "
                               + "beside its list files")
        }
        func list(_ file: String, _ dir: String) throws -> [ImageRecord] {
            let path = base + "/" + file
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw DatasetError("\(path): missing or unreadable list file")
            }
            var out: [ImageRecord] = []
            for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let pid = Int(parts[1]), pid >= 0 else {
                    throw DatasetError("\(path):\(n + 1): expected '<relative path> <pid>' with a pid of at least 0, "
                                       + "got '\(line)'")
                }
                let rel = String(parts[0])
                let fields = (rel as NSString).lastPathComponent.split(separator: "_")
                guard fields.count >= 3, let cam = Int(fields[2]), cam >= 1 else {
                    throw DatasetError("\(path):\(n + 1): '\(rel)' breaks MSMT17's naming rule "
                                       + "<pid>_<index>_<camera>_..., for example 0000_000_01_0303morning_0015_0.jpg")
                }
                out.append(ImageRecord(path: dir + "/" + rel, pid: pid, camid: cam - 1))
            }
            return out
        }
        let train = try list("list_train.txt", trainDir) + (withVal ? list("list_val.txt", trainDir) : [])
        return ReIDDataset(name: "msmt17", train: train, query: try list("list_query.txt", testDir),
                           gallery: try list("list_gallery.txt", testDir))
    }

    // MARK: custom

    /// Custom layout. Folders: `train/<identity>/<image>`, `query/<identity>/...`,
    /// `gallery/<identity>/...`; identities are folder names (integers keep their value,
    /// other names are numbered in sorted order from 1); without camera ids, query images
    /// get camera 0 and gallery images camera 1, so that no gallery match is excluded as
    /// same-camera. CSV: `train.csv`, `query.csv`, `gallery.csv` with lines
    /// `path,pid[,camid]` (paths relative to the root, or absolute; camids 0-based; an optional header
    /// line); a row with pid -1 is junk and never enters a split, as in Market-1501.
    static func custom(_ root: String) throws -> ReIDDataset {
        let fm = FileManager.default
        if fm.fileExists(atPath: root + "/train.csv") {
            func csv(_ split: String, defaultCam: Int) throws -> [ImageRecord] {
                let path = "\(root)/\(split).csv"
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw DatasetError("\(path): missing or unreadable CSV file")
                }
                var out: [ImageRecord] = []
                for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
                    let f = line.split(separator: ",", omittingEmptySubsequences: false).map {
                        $0.trimmingCharacters(in: .whitespaces)
                    }
                    if n == 0 && f.count >= 2 && Int(f[1]) == nil { continue }  // header
                    guard f.count == 2 || f.count == 3, let pid = Int(f[1]) else {
                        throw DatasetError("\(path):\(n + 1): expected 'path,pid[,camid]', got '\(line)'")
                    }
                    let cam = f.count == 3 ? Int(f[2]) : defaultCam
                    guard let cam, cam >= 0 else {
                        throw DatasetError("\(path):\(n + 1): camid '\(f[2])' is not an integer of at least 0")
                    }
                    guard pid >= -1 else {
                        throw DatasetError("\(path):\(n + 1): pid \(pid) (pids are at least 0; -1 marks junk)")
                    }
                    if pid == -1 { continue }  // junk never enters a split
                    out.append(ImageRecord(path: f[0].hasPrefix("/") ? f[0] : "\(root)/\(f[0])", pid: pid, camid: cam))
                }
                return out
            }
            return ReIDDataset(name: "custom", train: try csv("train", defaultCam: 0), query: try csv("query", defaultCam: 0),
                               gallery: try csv("gallery", defaultCam: 1))
        }
        // Folder names -> pids, consistently across the three splits.
        var names = Set<String>()
        for split in ["train", "query", "gallery"] {
            let dir = "\(root)/\(split)"
            guard let ids = try? fm.contentsOfDirectory(atPath: dir) else { throw DatasetError("\(dir): missing folder") }
            names.formUnion(ids.filter { !$0.hasPrefix(".") && isDirectory("\(dir)/\($0)") })
        }
        // Two folders that name the same number ("7" and "007") would be one identity.
        for (_, same) in Dictionary(grouping: names.filter { Int($0).map { $0 > 0 && $0 <= 1_000_000_000 } ?? false },
                                    by: { Int($0)! }) where same.count > 1 {
            throw DatasetError("\(root): identity folders \(same.sorted().map { "'\($0)'" }.joined(separator: " and ")) "
                               + "name the same identity \(Int(same[0])!); rename one")
        }
        var pidOf: [String: Int] = [:]
        // Identity folders named by a number keep it as their pid (up to 10^9); others are numbered after them.
        let numeric = names.compactMap { Int($0) }.filter { $0 <= 1_000_000_000 }
        var next = (numeric.max() ?? 0) + 1
        for n in names.sorted() {
            if let v = Int(n), v > 0, v <= 1_000_000_000 { pidOf[n] = v } else { pidOf[n] = next; next += 1 }
        }
        func split(_ split: String, cam: Int) throws -> [ImageRecord] {
            let dir = "\(root)/\(split)"
            var out: [ImageRecord] = []
            for id in try fm.contentsOfDirectory(atPath: dir).sorted() where !id.hasPrefix(".") && isDirectory("\(dir)/\(id)") {
                for file in try imageFiles("\(dir)/\(id)") {
                    out.append(ImageRecord(path: "\(dir)/\(id)/\(file)", pid: pidOf[id]!, camid: cam))
                }
            }
            return out
        }
        return ReIDDataset(name: "custom", train: try split("train", cam: 0), query: try split("query", cam: 0),
                           gallery: try split("gallery", cam: 1))
    }

    static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }
}
