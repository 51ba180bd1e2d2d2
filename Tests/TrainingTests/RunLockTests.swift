// The run-folder lock: a second holder fails at once naming the first; a lock left by a
// process that died is taken over with a note; temporaries of dead writers are removed;
// a folder the lock made and nothing wrote into is removed again.
import Foundation
import Training
import XCTest

final class RunLockTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testSecondHolderFailsNamingTheFirst() throws {
        let dir = tmp.appendingPathComponent("run").path
        do {
            let first = try RunLock(folder: dir)
            XCTAssertThrowsError(try RunLock(folder: dir)) { error in
                XCTAssertTrue("\(error)".contains("is in use by another run (host"), "\(error)")
                XCTAssertTrue("\(error)".contains("pid \(getpid())"), "\(error)")
            }
            withExtendedLifetime(first) {}
        }
        // Released: the folder can be locked again, and nobody is named as a dead holder.
        let again = try RunLock(folder: dir)
        XCTAssertNil(again.tookOverFrom)
    }

    /// A lock file holding something other than "host H pid P" is named printable only.
    func testGarbageInALockFileIsShownPrintable() throws {
        let dir = tmp.appendingPathComponent("garbage").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data([0x1b] + Array("[2Jhost".utf8) + [0, 0xff, 0x07] + Array("x".utf8))
            .write(to: URL(fileURLWithPath: dir + "/.lock"))
        let lock = try RunLock(folder: dir)
        XCTAssertEqual(lock.tookOverFrom, " [2Jhost ? x")
    }

    func testStaleLockAndTemporariesOfADeadProcess() throws {
        let dir = tmp.appendingPathComponent("stale").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // What a killed run leaves: its lock file (the kernel dropped the lock itself) and a temporary.
        try "host deadhost pid 999999".write(toFile: dir + "/.lock", atomically: false, encoding: .utf8)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/.checkpoint.safetensors.tmp-999999"))
        try Data([4]).write(to: URL(fileURLWithPath: dir + "/checkpoint.safetensors"))
        let lock = try RunLock(folder: dir)
        XCTAssertEqual(lock.tookOverFrom, "host deadhost pid 999999")
        XCTAssertEqual(lock.removeStaleTemporaries(), [".checkpoint.safetensors.tmp-999999"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors"))
    }

    func testAFileAsRunFolderAndAnUnusedFolder() throws {
        let file = tmp.appendingPathComponent("plain").path
        try Data().write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try RunLock(folder: file)) { XCTAssertTrue("\($0)".contains("is a file, not a folder"), "\($0)") }
        let unused = tmp.appendingPathComponent("unused").path
        do { _ = try RunLock(folder: unused) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: unused), "a folder the run made and left empty is removed")
    }
}
