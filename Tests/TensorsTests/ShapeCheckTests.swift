// A kernel called with mismatched shapes stops with a message that prints both shapes.
// The crash happens in a child process: this test binary re-runs itself on the probe
// test with REIDPRUNE_SHAPE_PROBE set, and the parent reads the child's stderr.
import Foundation
import Tensors
import XCTest

final class ShapeCheckTests: XCTestCase {
    func testMismatchedShapesStopWithBothShapes() throws {
        let cases = [
            ("conv", ["got nhwc [2, 5, 5, 4], expected nhwc [2, 5, 5, 3]"]),
            ("bn", ["got nhwc [1, 4, 4, 8], expected nhwc [1, 4, 4, 6]"]),
            ("linear", ["input [3, 7], weight [2, 6]"]),
            ("gemm", ["[4, 5] x [6, 2] -> [4, 2]"]),
        ]
        for (probe, fragments) in cases {
            let (status, stderr) = try runProbe(probe)
            XCTAssertNotEqual(status, 0, "probe \(probe) should stop the process")
            for f in fragments {
                XCTAssertTrue(stderr.contains(f), "probe \(probe): stderr lacks '\(f)':\n\(stderr.suffix(800))")
            }
        }
    }

    /// Only does something in the child process started by the test above.
    func testShapeProbe() {
        guard let probe = ProcessInfo.processInfo.environment["REIDPRUNE_SHAPE_PROBE"] else { return }
        switch probe {
        case "conv":
            let g = ConvGeometry(batch: 2, inChannels: 3, height: 5, width: 5, outChannels: 2, kernel: 3, padding: 1)
            Convolution.forward(g, x: Tensor(shape: [2, 5, 5, 4], layout: .nhwc), weight: Tensor(shape: g.weightShape,
                                layout: .oihw), y: Tensor(shape: g.outputShape, layout: .nhwc))
        case "bn":
            let g = BatchNormGeometry(batch: 1, height: 4, width: 4, channels: 6)
            let v = Tensor(shape: [6], layout: .x)
            BatchNorm.forwardInference(g, x: Tensor(shape: [1, 4, 4, 8], layout: .nhwc), gamma: v, beta: v,
                                       runningMean: v, runningVariance: v, y: Tensor(shape: g.shape, layout: .nhwc))
        case "linear":
            Linear.forward(x: Tensor(shape: [3, 7], layout: .nc), weight: Tensor(shape: [2, 6], layout: .nc), bias: nil,
                           y: Tensor(shape: [3, 2], layout: .nc))
        case "gemm":
            GEMM.matmul(Tensor(shape: [4, 5], layout: .nc), Tensor(shape: [6, 2], layout: .nc),
                        into: Tensor(shape: [4, 2], layout: .nc))
        default:
            XCTFail("unknown probe \(probe)")
        }
    }

    private func runProbe(_ probe: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["TensorsTests.ShapeCheckTests/testShapeProbe"]
        var env = ProcessInfo.processInfo.environment
        env["REIDPRUNE_SHAPE_PROBE"] = probe
        process.environment = env
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
