// File-system problems in a few words: a missing file, a folder given as a file, a file
// on the way to a folder, and what writing a safetensors file says about each.
import Foundation
import Tensors
import XCTest

final class FileProblemTests: XCTestCase {
    func testProblemsAreNamedInAFewWords() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-files-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/folder", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data([1]).write(to: URL(fileURLWithPath: dir + "/file"))
        XCTAssertNil(FileProblem.reading(dir + "/file"))
        XCTAssertEqual(FileProblem.reading(dir + "/none"), "no such file")
        XCTAssertEqual(FileProblem.reading(dir + "/folder"), "is a folder, not a file")
        XCTAssertEqual(FileProblem.reading(dir + "/file/x"), "'\(dir)/file' is a file, not a folder")
        XCTAssertNil(FileProblem.writing(into: dir + "/folder"))
        XCTAssertEqual(FileProblem.writing(into: dir + "/file"), "'\(dir)/file' is a file, not a folder")
        XCTAssertEqual(FileProblem.writing(into: dir + "/none"), "there is no folder '\(dir)/none'")
        XCTAssertThrowsError(try SafetensorsFile(path: dir + "/folder")) {
            XCTAssertEqual("\($0)", "\(dir)/folder: cannot read: is a folder, not a file")
        }
        var w = SafetensorsWriter()
        w.add("x", floats: [1], shape: [1])
        XCTAssertThrowsError(try w.write(to: dir + "/file/x.safetensors")) {
            XCTAssertEqual("\($0)", "\(dir)/file/x.safetensors: cannot write: '\(dir)/file' is a file, not a folder")
        }
        XCTAssertThrowsError(try w.write(to: dir + "/folder")) { XCTAssertEqual("\($0)", "\(dir)/folder: cannot write: is a folder") }
    }

    /// Two output paths naming one file are refused however they name it: through a
    /// symbolic link to the folder (the file not there yet), `..`, or a hard link.
    func testTwoPathsToOneFileAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-same-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/real/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/real")
        for (a, b) in [("real/p.safetensors", "link/p.safetensors"), ("real/p.safetensors", "real/sub/../p.safetensors")] {
            XCTAssertThrowsError(try AtomicFile.checkCreatable([dir + "/" + a, dir + "/" + b])) {
                XCTAssertEqual("\($0)", "\(dir)/\(b): cannot write: names the same file as \(dir)/\(a), which is written too")
            }
        }
        try Data([1]).write(to: URL(fileURLWithPath: dir + "/real/q"))
        XCTAssertEqual(link(dir + "/real/q", dir + "/real/hard"), 0)
        XCTAssertThrowsError(try AtomicFile.checkCreatable([dir + "/real/q", dir + "/real/hard"]))
        XCTAssertNoThrow(try AtomicFile.checkCreatable([dir + "/real/q", dir + "/link/p.safetensors"]))
    }

    /// Foundation's errors read as their reason, not as an NSError dump; other errors as
    /// they describe themselves.
    func testErrorTextIsShort() throws {
        XCTAssertThrowsError(try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/reidprune"))) {
            XCTAssertEqual(FileProblem.text($0), "no such file")
        }
        XCTAssertThrowsError(try Data([1]).write(to: URL(fileURLWithPath: "/dev/full"))) {
            XCTAssertEqual(FileProblem.text($0), "no space left on device")
        }
        XCTAssertEqual(FileProblem.text(WeightsError("x.safetensors: bad")), "x.safetensors: bad")
    }
}
