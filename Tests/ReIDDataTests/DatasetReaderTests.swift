// Data set layouts built on the fly (with distractors, junk, odd names and a corrupt
// JPEG): counts, pids, camids and label maps; layout detection and its errors.
import Foundation
import ReIDData
import XCTest

final class DatasetReaderTests: XCTestCase {
    var root: URL!
    let codec = ImageCodec()
    lazy var jpeg: Data = try! codec.encodeJPEG(RGBImage(width: 8, height: 16, fill: (120, 30, 200)), quality: 90)

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func write(_ rel: String, _ data: Data? = nil) throws {
        let url = root.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try (data ?? jpeg).write(to: url)
    }

    /// A Market-style tree under `base` with train (incl. a distractor and junk), query and gallery.
    func marketTree(_ base: String) throws {
        for n in ["0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "0007_c3s2_001000_02.jpg",
                  "0000_c1s1_000001_00.jpg", "-1_c1s1_000002_00.jpg", "Thumbs.db"] {
            try write("\(base)/bounding_box_train/\(n)")
        }
        for n in ["0003_c1s1_000100_00.jpg", "0004_c6s1_000100_00.jpg"] { try write("\(base)/query/\(n)") }
        for n in ["0003_c2s1_000200_00.jpg", "0004_c1s1_000300_00.jpg", "0000_c3s1_000400_00.jpg",
                  "-1_c2s1_000500_00.jpg", "0003_c1s1_000600_00.jpg"] {
            try write("\(base)/bounding_box_test/\(n)")
        }
    }

    func testMarket1501BothLayouts() throws {
        try marketTree("Market-1501-v15.09.15")
        for path in [root.path, root.path + "/Market-1501-v15.09.15"] {
            XCTAssertEqual(try DatasetReader.detect(path), .market1501)
            let d = try DatasetReader.read(root: path)
            XCTAssertEqual(d.train.map(\.pid), [2, 2, 7], "distractors and junk leave the training split")
            XCTAssertEqual(d.train.map(\.camid), [0, 1, 2])
            XCTAssertEqual(d.labelMap, [2: 0, 7: 1])
            XCTAssertEqual(d.query.map(\.pid), [3, 4])
            XCTAssertEqual(d.query.map(\.camid), [0, 5])
            XCTAssertEqual(d.gallery.map(\.pid).sorted(), [0, 3, 3, 4], "junk dropped, distractor kept")
        }
    }

    /// torchreid's data root: a folder per set, each set in its release folder.
    func testTorchreidDataRoot() throws {
        try marketTree("reid-data/market1501/Market-1501-v15.09.15")
        try write("reid-data/dukemtmc-reid/DukeMTMC-reID/bounding_box_train/0005_c8_f0000001.jpg")
        try write("reid-data/dukemtmc-reid/DukeMTMC-reID/query/0005_c7_f0000002.jpg")
        try write("reid-data/dukemtmc-reid/DukeMTMC-reID/bounding_box_test/0005_c2_f0000003.jpg")
        let data = root.path + "/reid-data"
        XCTAssertThrowsError(try DatasetReader.read(root: data)) {
            XCTAssertEqual("\($0)", "\(data): holds several data sets (market1501, dukemtmc): name one with data.kind, "
                           + "or point at its own folder")
        }
        XCTAssertEqual(try DatasetReader.read(root: data, kind: .dukemtmc).train.map(\.camid), [7])
        XCTAssertEqual(try DatasetReader.read(root: data, kind: .market1501).query.count, 2)
        XCTAssertEqual(try DatasetReader.read(root: data + "/market1501").name, "market1501")
    }

    func testDukeCamerasAndNamingErrors() throws {
        try write("DukeMTMC-reID/bounding_box_train/0005_c8_f0012345.jpg")
        try write("DukeMTMC-reID/query/0006_c7_f0000001.jpg")
        try write("DukeMTMC-reID/bounding_box_test/0006_c2_f0000002.jpg")
        let d = try DatasetReader.read(root: root.path)
        XCTAssertEqual(d.name, "dukemtmc")
        XCTAssertEqual(d.train.first?.camid, 7)
        try write("DukeMTMC-reID/query/person_7.jpg")
        XCTAssertThrowsError(try DatasetReader.read(root: root.path)) { e in
            XCTAssertTrue("\(e)".contains("person_7.jpg: file name breaks the naming rule <pid>_c<camera>"), "\(e)")
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("DukeMTMC-reID/query/person_7.jpg"))
        try write("DukeMTMC-reID/query/0006_c9_f0000001.jpg")
        XCTAssertThrowsError(try DatasetReader.read(root: root.path)) { e in
            XCTAssertTrue("\(e)".contains("camera 9 outside 1...8"), "\(e)")
        }
    }

    func testCUHK03DetectedAndLabeledPNG() throws {
        let png = try codec.encodePNG(RGBImage(width: 4, height: 8, fill: (1, 2, 3)))
        for sub in ["detected", "labeled"] {
            try write("cuhk03-np/\(sub)/bounding_box_train/0001_c1_1.png", png)
            try write("cuhk03-np/\(sub)/bounding_box_train/0001_c2_1.png", png)
            try write("cuhk03-np/\(sub)/query/0010_c1_\(sub == "labeled" ? 2 : 1).png", png)
            try write("cuhk03-np/\(sub)/bounding_box_test/0010_c2_1.png", png)
        }
        XCTAssertEqual(try DatasetReader.detect(root.path), .cuhk03)
        var o = ReaderOptions()
        let detected = try DatasetReader.read(root: root.path, options: o)
        o.cuhk03Labeled = true
        let labeled = try DatasetReader.read(root: root.path, options: o)
        XCTAssertEqual(detected.name, "cuhk03-np-detected")
        XCTAssertTrue(labeled.query[0].path.contains("/labeled/query/0010_c1_2.png"))
        XCTAssertEqual(detected.train.map(\.camid), [0, 1])
        XCTAssertEqual(try ImageCodec().decode(path: labeled.query[0].path).width, 4)
        // A copy holding only the labeled boxes, its folder given directly.
        try FileManager.default.removeItem(at: root.appendingPathComponent("cuhk03-np/detected"))
        let only = root.appendingPathComponent("cuhk03-np").path
        XCTAssertEqual(try DatasetReader.detect(only), .cuhk03)
        XCTAssertEqual(try DatasetReader.read(root: only, options: o).name, "cuhk03-np-labeled")
        XCTAssertThrowsError(try DatasetReader.read(root: only)) { XCTAssertTrue("\($0)".contains("detected/"), "\($0)") }
    }

    func testMSMT17ListFilesV1AndV2() throws {
        for (version, trainDir, testDir) in [("MSMT17_V1", "train", "test"), ("MSMT17_V2", "mask_train_v2", "mask_test_v2")] {
            try? FileManager.default.removeItem(at: root)
            try write("\(version)/\(trainDir)/0000/0000_000_01_0303morning_0015_0.jpg")
            try write("\(version)/\(trainDir)/0001/0001_003_15_0303afternoon_0100_1.jpg")
            try write("\(version)/\(testDir)/0000/0000_001_05_0303noon_0001_0.jpg")
            let lists = ["list_train.txt": "0000/0000_000_01_0303morning_0015_0.jpg 0\n",
                         "list_val.txt": "0001/0001_003_15_0303afternoon_0100_1.jpg 1\n",
                         "list_query.txt": "0000/0000_001_05_0303noon_0001_0.jpg 0\n",
                         "list_gallery.txt": "0000/0000_001_05_0303noon_0001_0.jpg 0\n"]
            for (name, text) in lists { try write("\(version)/\(name)", Data(text.utf8)) }
            XCTAssertEqual(try DatasetReader.read(root: root.path).train.map(\.pid), [0], "list_train.txt only, as torchreid")
            var withVal = ReaderOptions()
            withVal.msmt17Val = true
            let d = try DatasetReader.read(root: root.path, options: withVal)
            XCTAssertEqual(d.name, "msmt17")
            XCTAssertEqual(d.train.map(\.pid), [0, 1], "train and val lists form the training split")
            XCTAssertEqual(d.train.map(\.camid), [0, 14])
            XCTAssertTrue(d.train[0].path.hasSuffix("\(version)/\(trainDir)/0000/0000_000_01_0303morning_0015_0.jpg"))
            XCTAssertEqual(d.query.first?.camid, 4)
        }
        try write("MSMT17_V2/list_query.txt", Data("broken-line\n".utf8))
        XCTAssertThrowsError(try DatasetReader.read(root: root.path)) { e in
            XCTAssertTrue("\(e)".contains("list_query.txt:1: expected '<relative path> <pid>'"), "\(e)")
        }
    }

    func testCustomFoldersAndCSV() throws {
        try write("folders/train/alice/a.jpg"); try write("folders/train/alice/b.jpg"); try write("folders/train/17/c.jpg")
        try write("folders/query/bob/q.jpg"); try write("folders/gallery/bob/g.jpg"); try write("folders/gallery/carol/h.jpg")
        let d = try DatasetReader.read(root: root.path + "/folders")
        XCTAssertEqual(d.name, "custom")
        // Numeric folder names keep their value; other names are numbered after the largest.
        XCTAssertEqual(Dictionary(grouping: d.train, by: \.pid).mapValues(\.count), [17: 1, 18: 2])
        XCTAssertEqual(d.query.map(\.pid), [19])
        XCTAssertEqual(d.query.map(\.camid), [0])
        XCTAssertEqual(d.gallery.map(\.camid), [1, 1])
        // Hidden files and folders are not part of the set; "7" and "007" would be one identity.
        try write("folders/train/alice/._a.jpg", Data("AppleDouble".utf8)); try write("folders/train/.cache/x.jpg")
        XCTAssertEqual(try DatasetReader.read(root: root.path + "/folders").train.count, 3)
        try write("folders/query/017/q.jpg")
        XCTAssertThrowsError(try DatasetReader.read(root: root.path + "/folders")) { e in
            XCTAssertTrue("\(e)".contains("identity folders '017' and '17' name the same identity 17"), "\(e)")
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("folders/query/017"))

        try write("csv/img/1.jpg"); try write("csv/img/2.jpg")
        try write("csv/train.csv", Data("path,pid,camid\nimg/1.jpg,5,2\nimg/2.jpg,6,0\n".utf8))
        try write("csv/query.csv", Data("img/1.jpg,5\n".utf8))
        try write("csv/gallery.csv", Data("img/2.jpg,5\n".utf8))
        let c = try DatasetReader.read(root: root.path + "/csv")
        XCTAssertEqual(c.train.map(\.camid), [2, 0])
        XCTAssertEqual(c.query.map(\.camid), [0])
        XCTAssertEqual(c.gallery.map(\.camid), [1])
        try write("csv/query.csv", Data("img/1.jpg;5\n".utf8))
        XCTAssertThrowsError(try DatasetReader.read(root: root.path + "/csv")) { e in
            XCTAssertTrue("\(e)".contains("query.csv:1: expected 'path,pid[,camid]'"), "\(e)")
        }
    }

    func testCustomCSVSkipsJunkAndKeepsDistractors() throws {
        try write("csv/img/1.jpg"); try write("csv/img/2.jpg"); try write("csv/img/3.jpg"); try write("csv/img/4.jpg")
        try write("csv/train.csv", Data("path,pid,camid\nimg/1.jpg,5,2\nimg/3.jpg,-1,1\n".utf8))
        try write("csv/query.csv", Data("img/1.jpg,5,0\n".utf8))
        try write("csv/gallery.csv", Data("img/2.jpg,5,1\nimg/3.jpg,-1,3\nimg/4.jpg,0,4\n".utf8))
        let c = try DatasetReader.read(root: root.path + "/csv")
        // Junk (pid -1) never enters a split, as in Market-1501; distractors (pid 0) stay in the gallery.
        XCTAssertEqual(c.train.map(\.pid), [5])
        XCTAssertEqual(c.gallery.map(\.pid), [5, 0])
        XCTAssertEqual(c.gallery.map(\.camid), [1, 4])
    }

    func testUnknownLayoutAndEmptySplit() throws {
        try write("random/stuff.jpg")
        XCTAssertThrowsError(try DatasetReader.read(root: root.path + "/random")) { e in
            XCTAssertTrue("\(e)".contains("matches no known data set layout"), "\(e)")
            XCTAssertTrue("\(e)".contains("bounding_box_train"), "\(e)")
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("m/bounding_box_train"), withIntermediateDirectories: true)
        try write("m/query/0001_c1s1_000001_00.jpg"); try write("m/bounding_box_test/0001_c2s1_000001_00.jpg")
        let d = try DatasetReader.read(root: root.path + "/m")
        XCTAssertThrowsError(try d.checkNonEmpty()) { XCTAssertTrue("\($0)".contains("training split is empty"), "\($0)") }
    }

    func testCombinedDatasetsNamespacePidsAndCameras() throws {
        let a = ReIDDataset(name: "a", train: [ImageRecord(path: "x", pid: 3, camid: 0), ImageRecord(path: "y", pid: 5, camid: 1)],
                            query: [ImageRecord(path: "q", pid: 9, camid: 0)], gallery: [ImageRecord(path: "g", pid: 0, camid: 1)])
        let b = ReIDDataset(name: "b", train: [ImageRecord(path: "z", pid: 3, camid: 0), ImageRecord(path: "w", pid: 0, camid: 0)],
                            query: [ImageRecord(path: "bq", pid: 3, camid: 0)], gallery: [ImageRecord(path: "bg", pid: 3, camid: 1)])
        let c = ReIDDataset.combine([a, b])
        // (b's pid 0 is a real identity in its training split, as MSMT17's first: it is namespaced too.)
        XCTAssertEqual(c.train.map(\.pid), [3, 5, 13, 10], "b's pid 3 becomes 10 + 3")
        XCTAssertEqual(c.train.map(\.camid), [0, 1, 2, 2])
        XCTAssertEqual(c.numTrainPids, 4)
        XCTAssertEqual(c.gallery[0].pid, 0, "distractors stay distractors")
        XCTAssertEqual(c.labelMap, [3: 0, 5: 1, 10: 2, 13: 3])
        XCTAssertEqual(c.query.map(\.path) + c.gallery.map(\.path), ["q", "g"], "evaluation on the first set only")
    }

    func testCorruptJPEGFailsWithPathOrIsSkipped() throws {
        try write("m/bounding_box_train/0001_c1s1_000001_00.jpg")
        try write("m/bounding_box_train/0001_c2s1_000002_00.jpg", Data(jpeg.prefix(40)) + Data(repeating: 0x11, count: 30))
        try write("m/bounding_box_train/0002_c1s1_000003_00.jpg")
        try write("m/bounding_box_train/0002_c2s1_000004_00.jpg")
        try write("m/query/0003_c1s1_000001_00.jpg"); try write("m/bounding_box_test/0003_c2s1_000001_00.jpg")
        let d = try DatasetReader.read(root: root.path + "/m")
        let sampler = try IdentitySampler(pids: d.train.map(\.pid), identities: 2, instances: 2, seed: 1)
        var aug = AugmentConfig()
        aug.height = 32
        aug.width = 16
        let strict = try DataLoader(records: d.train, labelMap: d.labelMap, sampler: sampler, augment: aug)
        strict.startEpoch(0)
        XCTAssertThrowsError(try strict.next()) { e in
            XCTAssertTrue("\(e)".contains("0001_c2s1_000002_00.jpg"), "\(e)")
        }
        strict.shutdown()
        var options = LoaderOptions()
        options.skipCorrupt = true
        let lenient = try DataLoader(records: d.train, labelMap: d.labelMap, sampler: sampler, augment: aug, options: options)
        lenient.startEpoch(0)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(lenient.replacedImages, 0, "a prefetched batch counts when it is served")
        let batch = try lenient.next()
        XCTAssertEqual(batch.count, 4)
        XCTAssertEqual(lenient.replacedImages, 1)
        lenient.shutdown()
    }
}
