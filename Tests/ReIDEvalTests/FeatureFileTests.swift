// Feature files: a round trip (with the synthetic-data label carried to the metrics of
// `evaluate`), and the errors for a missing tensor, NaN features,
// feature sizes that differ and an empty query set.
import Foundation
import ReIDEval
import Tensors
import XCTest

final class FeatureFileTests: XCTestCase {
    func testRoundTripAndBadInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-feat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = ExtractedFeatures(features: Tensor(shape: [2, 3], layout: .nc, values: [1, 0, 0, 0, 1, 0]), pids: [4, 5],
                                  camids: [0, 1])
        let path = dir.appendingPathComponent("q.safetensors").path
        try f.save(to: path)
        let back = try ExtractedFeatures(contentsOf: path)
        XCTAssertEqual(back.features.toArray(), f.features.toArray())
        XCTAssertEqual(back.pids, [4, 5])
        XCTAssertEqual(back.camids, [0, 1])
        XCTAssertFalse(back.synthetic)
        var synth = f
        (synth.camids, synth.synthetic) = ([1, 0], true)
        let synthPath = dir.appendingPathComponent("g.safetensors").path
        try synth.save(to: synthPath)
        XCTAssertTrue(try ExtractedFeatures(contentsOf: synthPath).synthetic)
        synth.synthetic = false
        let realPath = dir.appendingPathComponent("g-real.safetensors").path
        try synth.save(to: realPath)
        XCTAssertFalse(try Evaluation.evaluate(queryFile: path, galleryFile: realPath, metric: "euclidean", normalize: false,
                                               rerank: false, cuhk03: false, maxRank: 5).synthetic)
        XCTAssertTrue(try Evaluation.evaluate(queryFile: path, galleryFile: synthPath, metric: "euclidean", normalize: false,
                                              rerank: false, cuhk03: false, maxRank: 5).synthetic)

        var w = SafetensorsWriter()
        w.add("features", floats: [1, 2], shape: [1, 2])
        w.add("pids", int64s: [1], shape: [1])
        let missing = dir.appendingPathComponent("missing.safetensors").path
        try w.write(to: missing)
        XCTAssertThrowsError(try ExtractedFeatures(contentsOf: missing)) { XCTAssertTrue("\($0)".contains("missing tensor 'camids'"), "\($0)") }

        var n = SafetensorsWriter()
        n.add("features", floats: [1, .nan], shape: [1, 2])
        n.add("pids", int64s: [1], shape: [1])
        n.add("camids", int64s: [0], shape: [1])
        let nan = dir.appendingPathComponent("nan.safetensors").path
        try n.write(to: nan)
        XCTAssertThrowsError(try ExtractedFeatures(contentsOf: nan)) { XCTAssertTrue("\($0)".contains("NaN"), "\($0)") }

        let other = ExtractedFeatures(features: Tensor(shape: [1, 4], layout: .nc), pids: [4], camids: [1])
        XCTAssertThrowsError(try Evaluation.evaluate(query: f, gallery: other, metric: .euclidean, rerank: false, cuhk03: false)) {
            XCTAssertTrue("\($0)".contains("3 dimensions but gallery features 4"), "\($0)")
        }
        let empty = ExtractedFeatures(features: Tensor(shape: [0, 3], layout: .nc), pids: [], camids: [])
        XCTAssertThrowsError(try Evaluation.evaluate(query: empty, gallery: f, metric: .euclidean, rerank: false, cuhk03: false)) {
            XCTAssertTrue("\($0)".contains("query set is empty"), "\($0)")
        }
    }
}
