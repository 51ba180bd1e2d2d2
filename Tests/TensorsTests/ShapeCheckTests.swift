// A kernel called with mismatched shapes stops the process with a message that prints
// both shapes (`require`, which stops in release builds too). The stop happens in a child
// process: the test re-runs this test binary on itself with REIDPRUNE_SHAPE_PROBE naming
// the call to make, and checks how the child ended and what it wrote to stderr.
import Foundation
import Tensors
import XCTest

final class ShapeCheckTests: XCTestCase {
    static let probeVariable = "REIDPRUNE_SHAPE_PROBE"
    static let testName = "TensorsTests.ShapeCheckTests/testMismatchedShapesStopWithBothShapes"

    func testMismatchedShapesStopWithBothShapes() throws {
        if let probe = ProcessInfo.processInfo.environment[Self.probeVariable] {
            // In the child: the call below must not return.
            Self.mismatchedCall(probe)
            XCTFail("probe \(probe) returned instead of stopping the process")
            return
        }
        let cases = [
            ("conv", ["got nhwc [2, 5, 5, 4], expected nhwc [2, 5, 5, 3]"]),
            ("bn", ["got nhwc [1, 4, 4, 8], expected nhwc [1, 4, 4, 6]"]),
            ("linear", ["input [3, 7], weight [2, 6]"]),
            ("gemm", ["[4, 5] x [6, 2] -> [4, 2]"]),
        ]
        for (probe, fragments) in cases {
            let (reason, status, stderr) = try runChild(probe)
            // A stop traps (a signal); a failed assertion in the child would exit with status 1.
            XCTAssertEqual(reason, .uncaughtSignal, "probe \(probe) should stop the process; it exited with "
                           + "status \(status):\n\(stderr.suffix(800))")
            XCTAssertTrue(stderr.contains("Fatal error"), "probe \(probe): no fatal error:\n\(stderr.suffix(800))")
            for f in fragments {
                XCTAssertTrue(stderr.contains(f), "probe \(probe): stderr lacks '\(f)':\n\(stderr.suffix(800))")
            }
        }
    }

    /// Makes the kernel call named `probe` with shapes that do not fit.
    static func mismatchedCall(_ probe: String) {
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

    /// Runs this test alone in a child process of the test binary, in probe mode.
    private func runChild(_ probe: String) throws -> (Process.TerminationReason, Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = [Self.testName]
        var env = ProcessInfo.processInfo.environment
        env[Self.probeVariable] = probe
        env["SWIFT_BACKTRACE"] = "enable=no"  // the message is what matters; skip the slow backtrace
        process.environment = env
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationReason, process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
