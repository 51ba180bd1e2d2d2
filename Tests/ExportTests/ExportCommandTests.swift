// `reidprune export` through the built executable: a model file becomes an ONNX file
// that reads back with the generated schema; bad input (a file that is not a model, an
// unknown --format, an output that cannot be written) exits non-zero with one error line
// naming the file or option, and writes nothing.
import Export
import Foundation
import NN
import SwiftProtobuf
import Tensors
import TestSupport
import XCTest

final class ExportCommandTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-export-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let net = try OnnxExportTests.network(head: HeadConfig(bnneck: true, embeddingDim: 0, numClasses: 5))
        try ModelWeights.save(net, to: dir + "/model.safetensors", metadata: ["synthetic": "true"])
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func export(_ args: [String]) throws -> (status: Int32, output: String) {
        try ChildProcess.run([ChildProcess.reidprune, "export", "--height", "64", "--width", "32"] + args)
    }

    /// Non-zero exit, one "Error:" line containing `message`, no crash, nothing written.
    func assertRefused(_ args: [String], message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        let (status, out) = try export(args)
        XCTAssertNotEqual(status, 0, out, file: file, line: line)
        XCTAssertFalse(out.contains("Fatal error") || out.contains("Stack dump"), "crashed\n\(out)", file: file, line: line)
        let errors = out.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        XCTAssertEqual(errors.count, 1, out, file: file, line: line)
        XCTAssertTrue(errors.first?.contains(message) ?? false, "expected '\(message)' in\n\(out)", file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), before, "a file was written",
                       file: file, line: line)
    }

    func testCommandWritesAnOnnxFileThatReadsBack() throws {
        let (status, out) = try export(["--weights", dir + "/model.safetensors", "--out", dir + "/model.onnx",
                                        "--dynamic-batch"])
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("\(dir)/model.onnx: ONNX opset 17, resnet18 (reid), images (batch, 3, 64, 32) -> "
                                   + "features (batch, 32), BN folded"), out)
        XCTAssertTrue(out.contains("(trained on synthetic data)"), out)
        let model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: dir + "/model.onnx")))
        XCTAssertEqual(model.graph.output.map(\.name), ["features"])
        XCTAssertEqual(OnnxExportTests.dims(model.graph.input[0]), ["batch", "3", "64", "32"])
        let meta = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        XCTAssertEqual(meta["source"], "model.safetensors")
        XCTAssertEqual(meta["synthetic"], "true")
        XCTAssertEqual(meta["mean"], "0.485, 0.456, 0.406")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    func testFileThatIsNotAModelIsRefused() throws {
        try Data("not a model\n".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        var features = SafetensorsWriter()
        features.add("features", floats: [1, 0, 0], shape: [1, 3])
        try features.write(to: dir + "/features.safetensors")
        let out = ["--out", dir + "/m.onnx"]
        try assertRefused(["--weights", dir + "/notes.txt"] + out, message: "\(dir)/notes.txt")
        try assertRefused(["--weights", dir + "/features.safetensors"] + out,
                          message: "\(dir)/features.safetensors: no 'reidprune.architecture' metadata")
        try assertRefused(["--weights", dir + "/none.safetensors"] + out,
                          message: "\(dir)/none.safetensors: cannot read: no such file")
    }

    func testUnknownFormatIsRefused() throws {
        try assertRefused(["--weights", dir + "/model.safetensors", "--format", "tflite", "--out", dir + "/m.tflite"],
                          message: "--format 'tflite' is not supported; supported: onnx")
    }

    func testUnwritableOutputIsRefused() throws {
        try FileManager.default.createDirectory(atPath: dir + "/folder", withIntermediateDirectories: true)
        let weights = ["--weights", dir + "/model.safetensors"]
        try assertRefused(weights + ["--out", dir + "/missing/m.onnx"],
                          message: "\(dir)/missing/m.onnx: cannot write: there is no folder '\(dir)/missing'")
        try assertRefused(weights + ["--out", dir + "/folder"], message: "\(dir)/folder: cannot write: is a folder")
        try assertRefused(weights + ["--out", dir + "/model.safetensors/m.onnx"],
                          message: "\(dir)/model.safetensors/m.onnx: cannot write: '\(dir)/model.safetensors' is a file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/folder"), [])
    }
}
