// DataHashTests: the fingerprint a checkpoint carries of its tensor bytes: the same over
// any split of the bytes into pieces (the writer hashes tensor by tensor, the reader the
// whole data section), and changed by any single flipped bit; a safetensors file that
// records one checks it.
import Foundation
import Tensors
import XCTest

final class DataHashTests: XCTestCase {
    func testPiecesAndFlippedBits() {
        let bytes = (0..<203).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = bytes.withUnsafeBytes { DataHash.of($0) }
        for cuts in [[0, 203], [3, 11, 200], [1, 2, 3, 4, 5, 100, 196], [8, 16, 24]] {
            var d = DataHash()
            var start = 0
            for end in cuts + [203] where end >= start {
                bytes[start..<end].withUnsafeBytes { d.update($0) }
                start = end
            }
            XCTAssertEqual(d.value, whole, "\(cuts)")
        }
        var seen = Set([whole])
        for i in stride(from: 0, to: bytes.count, by: 7) {
            for bit in [0, 5] {
                var b = bytes
                b[i] ^= UInt8(1 << bit)
                seen.insert(b.withUnsafeBytes { DataHash.of($0) })
            }
        }
        XCTAssertEqual(seen.count, 1 + 2 * stride(from: 0, to: bytes.count, by: 7).underestimatedCount, "every flip changes it")
    }

    func testAFileRecordingItChecksIt() throws {
        var w = SafetensorsWriter()
        w.add("a", floats: [1, 2, 3], shape: [3])
        w.add("b", floats: [4, 5], shape: [2])
        w.hashData = true
        var data = try w.encoded()
        XCTAssertNoThrow(try SafetensorsFile(data: data, path: "x").verifyDataHash())
        data[data.count - 1] ^= 0x80
        XCTAssertThrowsError(try SafetensorsFile(data: data, path: "x").verifyDataHash()) {
            XCTAssertTrue("\($0)".hasPrefix("x: its tensor bytes no longer match the fingerprint"), "\($0)")
        }
        // A file without one (written before checkpoints carried it, or not a checkpoint) passes.
        w.hashData = false
        XCTAssertNoThrow(try SafetensorsFile(data: try w.encoded(), path: "y").verifyDataHash())
    }
}
