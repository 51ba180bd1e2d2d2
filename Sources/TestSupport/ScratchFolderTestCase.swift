// ScratchFolderTestCase: a test case with a fresh temporary folder for each test,
// removed afterwards, and `write(name, text)` to put a file in it.
import Foundation
import XCTest

open class ScratchFolderTestCase: XCTestCase {
    /// This test's folder (created before it runs).
    public var dir: URL!

    open override func setUpWithError() throws {
        try super.setUpWithError()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    open override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
        try super.tearDownWithError()
    }

    /// Writes `text` to `name` inside the folder; returns its path.
    public func write(_ name: String, _ text: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
