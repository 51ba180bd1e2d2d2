// The recipe's data.max_image_pixels: Pillow's limit by default, and the value given
// reaches the training loader's options and the evaluator.
import Foundation
import ReIDData
import Training
import XCTest

final class ImageLimitRecipeTests: XCTestCase {
    func testMaxImagePixelsDefaultAndOverride() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-limit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.yaml").path
        try "model: {arch: resnet18}\ndata: {root: d}\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ExperimentConfig.parse(try ConfigFile.load(path)).data.loader.maxImagePixels, 178_956_970)
        let c = try ExperimentConfig.parse(try ConfigFile.load(path, overrides: ["data.max_image_pixels=5000"]))
        XCTAssertEqual(c.data.loader.maxImagePixels, 5000)
        let empty = ReIDDataset(name: "empty", train: [], query: [], gallery: [])
        XCTAssertEqual(Experiment(config: c, log: { _ in }).evaluator(empty).maxImagePixels, 5000)
    }
}
