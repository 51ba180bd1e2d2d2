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
