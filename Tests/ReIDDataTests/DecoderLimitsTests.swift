// Decoder limits: an image whose header claims more pixels than the limit is refused,
// naming the file and the claimed size, before its pixel buffer exists (peak RSS stays
// flat); truncated JPEGs and JPEGs whose scan data is lost are errors, which the
// loader's skip_corrupt path replaces; CMYK, YCCK, grayscale and progressive JPEGs decode
// to Pillow's RGB pixels.
import Foundation
import ReIDData
import Tensors
import XCTest

final class DecoderLimitsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-decode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func fixture(_ name: String) -> String { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)").path }

    func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: fixture(name)))) }

    /// Writes `bytes` to `rel` under the temporary folder; returns the path.
    @discardableResult
    func write(_ rel: String, _ bytes: [UInt8]) throws -> String {
        let url = dir.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    func pillow(_ key: String) throws -> RGBImage {
        let f = try SafetensorsFile(path: fixture("decoder_pixels.safetensors"))
        let e = f.entry(key)!
        return RGBImage(width: e.shape[1], height: e.shape[0], pixels: try f.int64s(key).map { UInt8($0) })
    }

    /// Offsets of the JPEG markers `marker` (walking segments by their lengths, and the
    /// entropy-coded data after each SOS byte by byte).
    func markers(_ marker: UInt8, in b: [UInt8]) -> [Int] {
        var found: [Int] = [], i = 2
        while i + 3 < b.count {
            let m = b[i + 1]
            if b[i] != 0xFF || m == 0xFF { i += 1; continue }  // entropy-coded data, fill bytes
            if m == 0x00 || (0xD0...0xD7).contains(m) { i += 2; continue }  // stuffing, restart markers
            if m == marker { found.append(i) }
            if m == 0xD9 { break }
            i += 2 + (Int(b[i + 2]) << 8 | Int(b[i + 3]))
        }
        return found
    }

    /// The process's peak resident set (VmHWM), in bytes, reset first when the kernel allows.
    func peakRSS(reset: Bool = false) -> Int {
        if reset { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        let fields = line.split { $0 == " " || $0 == "\t" }  // "VmHWM:", value, "kB"
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * 1024
    }

    // MARK: - Pixel limit

    func testJPEGBombRefusedBeforeItsPixelsAreAllocated() throws {
        var jpeg = try bytes("a420.jpg")
        let sof = try XCTUnwrap(markers(0xC0, in: jpeg).first, "a420.jpg is a baseline (SOF0) JPEG")
        for side in [20000, 65500] {  // libjpeg refuses dimensions above 65500
            // SOF0: FF C0, length (2), precision (1), height (2), width (2).
            jpeg[sof + 5] = UInt8(side >> 8); jpeg[sof + 6] = UInt8(side & 0xFF)
            jpeg[sof + 7] = UInt8(side >> 8); jpeg[sof + 8] = UInt8(side & 0xFF)
            let path = try write("bomb_\(side).jpg", jpeg)
            XCTAssertLessThan(jpeg.count, 2048)
            let before = peakRSS(reset: true)
            XCTAssertThrowsError(try ImageCodec().decode(path: path)) { e in
                let message = "\(e)"
                XCTAssertTrue(message.contains(path), message)
                XCTAssertTrue(message.contains("\(side)x\(side)"), message)
                XCTAssertTrue(message.contains("limit of 178956970 pixels"), message)
                XCTAssertTrue(message.contains("data.max_image_pixels"), message)
            }
            let growth = peakRSS() - before
            // 20000 x 20000 RGB would be 1.2 GB: the refusal comes before any of it.
            XCTAssertLessThan(growth, 64 << 20, "peak RSS grew by \(growth >> 20) MB decoding a \(side)x\(side) header")
        }
        XCTAssertEqual(ImageCodec.defaultMaxImagePixels, 2 * 89_478_485, "twice Pillow's Image.MAX_IMAGE_PIXELS")
    }

    func testPNGBombRefusedAndLimitIsConfigurable() throws {
        var png = try bytes("d.png")
        // IHDR: length (4) "IHDR" (4) at 8, width (4) at 16, height (4) at 20, CRC at 29 over bytes 12..<29.
        for (offset, value) in [(16, 30000), (20, 20000)] {
            for k in 0..<4 { png[offset + k] = UInt8((value >> (24 - 8 * k)) & 0xFF) }
        }
        let crc = crc32(png[12..<29])
        for k in 0..<4 { png[29 + k] = UInt8((crc >> (24 - 8 * k)) & 0xFF) }
        let path = try write("bomb.png", png)
        let before = peakRSS(reset: true)
        XCTAssertThrowsError(try ImageCodec().decode(path: path)) { e in
            XCTAssertTrue("\(e)".contains("\(path): the header claims 30000x20000 pixels"), "\(e)")
        }
        XCTAssertLessThan(peakRSS() - before, 64 << 20)

        // The limit is the codec's: a 37x23 image (851 pixels) passes at 851, not at 850.
        XCTAssertEqual(try ImageCodec(maxImagePixels: 851).decode(path: fixture("a420.jpg")).width, 37)
        XCTAssertThrowsError(try ImageCodec(maxImagePixels: 850).decode(path: fixture("a420.jpg"))) { e in
            XCTAssertTrue("\(e)".contains("37x23 pixels (851), above the limit of 850 pixels"), "\(e)")
        }
        XCTAssertThrowsError(try ImageCodec(maxImagePixels: 272).decode(path: fixture("d.png"))) { e in
            XCTAssertTrue("\(e)".contains("d.png: the header claims 21x13 pixels (273)"), "\(e)")
        }
    }

    func testLoadersApplyTheirLimit() throws {
        let a420 = try bytes("a420.jpg")  // 37x23
        for n in ["0001_c1s1_000001_00", "0001_c2s1_000002_00", "0002_c1s1_000003_00", "0002_c2s1_000004_00"] {
            try write("m/bounding_box_train/\(n).jpg", a420)
        }
        try write("m/query/0003_c1s1_000001_00.jpg", a420)
        try write("m/bounding_box_test/0003_c2s1_000001_00.jpg", a420)
        let d = try DatasetReader.read(root: dir.path + "/m")
        var aug = AugmentConfig()
        aug.height = 32
        aug.width = 16
        let sampler = try IdentitySampler(pids: d.train.map(\.pid), identities: 2, instances: 2, seed: 1)
        var options = LoaderOptions()
        XCTAssertEqual(options.maxImagePixels, 178_956_970)
        options.maxImagePixels = 800
        let loader = try DataLoader(records: d.train, labelMap: d.labelMap, sampler: sampler, augment: aug, options: options)
        loader.startEpoch(0)
        XCTAssertThrowsError(try loader.next()) { e in
            XCTAssertTrue("\(e)".contains("37x23 pixels (851), above the limit of 800"), "\(e)")
        }
        loader.shutdown()
        XCTAssertThrowsError(try SplitLoader(records: d.query, augment: aug, batchSize: 4, maxImagePixels: 800)
            .forEach { _ in }) { e in
            XCTAssertTrue("\(e)".contains("0003_c1s1_000001_00.jpg: the header claims 37x23"), "\(e)")
        }
        var n = 0
        try SplitLoader(records: d.query, augment: aug, batchSize: 4).forEach { n += $0.count }
        XCTAssertEqual(n, 1, "the default limit reads the image")
        options.maxImagePixels = 0
        XCTAssertThrowsError(try DataLoader(records: d.train, labelMap: d.labelMap, sampler: sampler, augment: aug,
                                            options: options)) { e in
            XCTAssertTrue("\(e)".contains("data.max_image_pixels: must be at least 1"), "\(e)")
        }
    }

    // MARK: - Truncation

    func testTruncatedJPEGsAreErrorsNamingTheFile() throws {
        for name in ["a420.jpg", "progressive.jpg", "gray.jpg", "cmyk.jpg", "ycck.jpg"] {
            let jpeg = try bytes(name)
            let sos = try XCTUnwrap(markers(0xDA, in: jpeg).first)
            var cuts = [("without EOI", jpeg.count - 2), ("1 byte short", jpeg.count - 1),
                        ("mid-scan", sos + (jpeg.count - sos) / 2), ("at the first scan", sos + 20)]
            let scans = markers(0xDA, in: jpeg)
            if scans.count > 1 { cuts.append(("between scans", scans[1])) }
            for (what, keep) in cuts {
                let path = try write("\(what)/\(name)", Array(jpeg.prefix(keep)))
                XCTAssertThrowsError(try ImageCodec().decode(path: path), "\(name) \(what) is accepted") { e in
                    XCTAssertTrue("\(e)".contains("\(path): truncated JPEG"), "\(name) \(what): \(e)")
                }
            }
        }
    }

    func testTruncationIsFoundBehindAnEarlierWarning() throws {
        // Stray bytes before a marker (libjpeg warns, Pillow accepts the image); libjpeg only
        // reports its first warning, so the truncation after it must be found from the stream.
        let jpeg = try bytes("progressive.jpg")
        let scans = markers(0xDA, in: jpeg)
        XCTAssertGreaterThan(scans.count, 2)
        let stray = Array(jpeg[..<scans[1]]) + [0x12, 0x34, 0x56] + Array(jpeg[scans[1]...])
        let whole = try write("stray.jpg", stray)
        XCTAssertEqual(try ImageCodec().decode(path: whole), try pillow("progressive"),
                       "extraneous bytes before a marker leave the image whole, as Pillow decodes it")
        let cut = try write("stray_cut.jpg", Array(stray.prefix(stray.count - 2)))
        XCTAssertThrowsError(try ImageCodec().decode(path: cut)) { e in
            XCTAssertTrue("\(e)".contains("\(cut): truncated JPEG"), "\(e)")
        }
    }

    func testLostScanDataIsAnErrorThoughTheFileEnds() throws {
        // Pillow accepts both and fills the missing pixels with grey: a scan's data cut short
        // before a well-formed EOI, and a header claiming more pixels than the data holds.
        let jpeg = try bytes("a420.jpg")
        let sos = try XCTUnwrap(markers(0xDA, in: jpeg).first)
        var claims = jpeg
        let sof = try XCTUnwrap(markers(0xC0, in: jpeg).first)
        claims[sof + 5] = 0; claims[sof + 6] = 230  // 37x23 -> 370x230 (height, then width)
        claims[sof + 7] = UInt8(370 >> 8); claims[sof + 8] = UInt8(370 & 0xFF)
        for (name, b) in [("cut_scan.jpg", Array(jpeg.prefix(sos + (jpeg.count - sos) / 2)) + [0xFF, 0xD9]),
                          ("claims_370x230.jpg", claims)] {
            let path = try write(name, b)
            XCTAssertThrowsError(try ImageCodec().decode(path: path), name) { e in
                XCTAssertTrue("\(e)".contains("\(path): corrupt JPEG, part of the image is lost"), "\(e)")
            }
        }
    }

    func testLoaderReplacesATruncatedJPEGWithSkipCorrupt() throws {
        let good = try bytes("a420.jpg")
        try write("m/bounding_box_train/0001_c1s1_000001_00.jpg", good)
        try write("m/bounding_box_train/0001_c2s1_000002_00.jpg", Array(good.prefix(good.count * 3 / 4)))
        try write("m/bounding_box_train/0002_c1s1_000003_00.jpg", good)
        try write("m/bounding_box_train/0002_c2s1_000004_00.jpg", good)
        try write("m/query/0003_c1s1_000001_00.jpg", good)
        try write("m/bounding_box_test/0003_c2s1_000001_00.jpg", good)
        let d = try DatasetReader.read(root: dir.path + "/m")
        let sampler = try IdentitySampler(pids: d.train.map(\.pid), identities: 2, instances: 2, seed: 1)
        var aug = AugmentConfig()
        aug.height = 32
        aug.width = 16
        let strict = try DataLoader(records: d.train, labelMap: d.labelMap, sampler: sampler, augment: aug)
        strict.startEpoch(0)
        XCTAssertThrowsError(try strict.next()) { e in
            XCTAssertTrue("\(e)".contains("0001_c2s1_000002_00.jpg: truncated JPEG"), "\(e)")
        }
        strict.shutdown()
        var options = LoaderOptions()
        options.skipCorrupt = true
        let lenient = try DataLoader(records: d.train, labelMap: d.labelMap, sampler: sampler, augment: aug, options: options)
        lenient.startEpoch(0)
        XCTAssertEqual(try lenient.next().count, 4)
        XCTAssertEqual(lenient.replacedImages, 1)
        lenient.shutdown()
    }

    // MARK: - Colour spaces

    func testCMYKYCCKGrayAndProgressiveMatchPillow() throws {
        let codec = ImageCodec()
        for name in ["cmyk", "cmyk_noadobe", "ycck", "gray", "progressive"] {
            let ours = try codec.decode(path: fixture("\(name).jpg"))
            let theirs = try pillow(name)
            XCTAssertEqual(ours.width, theirs.width, name)
            XCTAssertEqual(ours.height, theirs.height, name)
            let diff = zip(ours.pixels, theirs.pixels).map { (a: UInt8, b: UInt8) -> Int in abs(Int(a) - Int(b)) }.max() ?? 255
            // Pillow's CMYK -> RGB is integer arithmetic on the same libjpeg output: equal, and
            // within one level at most should a libjpeg build round differently.
            XCTAssertLessThanOrEqual(diff, ["gray", "progressive"].contains(name) ? 0 : 1, "\(name): max difference \(diff)")
        }
        let gray = try codec.decode(path: fixture("gray.jpg"))
        let p = gray.pixels
        let unequal = stride(from: 0, to: p.count, by: 3).filter { (i: Int) -> Bool in p[i] != p[i + 1] || p[i] != p[i + 2] }
        XCTAssertEqual(unequal.count, 0, "a grayscale JPEG gives R = G = B")
    }
}

/// CRC-32 (ISO 3309, as PNG chunks use it).
private func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }
    return ~c
}
