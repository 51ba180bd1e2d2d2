// CPUCache: the last-level cache size read from a sysfs-like folder of cache entries.
import Foundation
@testable import Tensors
import XCTest

final class CPUCacheTests: XCTestCase {
    func testLastLevelIsTheHighestDataOrUnifiedLevel() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cpucache-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let entries = [("index0", "1", "Data", "32K"), ("index1", "1", "Instruction", "32K"),
                       ("index2", "2", "Unified", "1024K"), ("index3", "3", "Unified", "32768K"),
                       ("index4", "4", "Instruction", "64M")]
        for (name, level, type, size) in entries {
            try FileManager.default.createDirectory(atPath: "\(folder)/\(name)", withIntermediateDirectories: true)
            for (file, text) in [("level", level), ("type", type), ("size", size)] {
                try (text + "\n").write(toFile: "\(folder)/\(name)/\(file)", atomically: true, encoding: .utf8)
            }
        }
        XCTAssertEqual(CPUCache.lastLevelBytes(folder: folder), 32 << 20)
        XCTAssertNil(CPUCache.lastLevelBytes(folder: folder + "/missing"))
        XCTAssertEqual(CPUCache.parseSize("48M"), 48 << 20)
        XCTAssertEqual(CPUCache.parseSize("4096"), 4096)
        XCTAssertNil(CPUCache.parseSize("lots"))
        XCTAssertGreaterThan(CPUCache.lastLevelBytes, 0)
    }
}
