// The training benchmark's step breakdown: every timed step's phases are timed (not only
// the first step's, whose memory is recorded), the convolutions of a ResNet-18 step are
// counted per pass as the network runs them, the JSON carries phases_ms, conv_ms,
// conv_primitive_ms, conv_weight_reorder_ms, conv_calls and conv_share, and inference
// carries none of them.
import Foundation
import NN
import Tensors
import Training
import XCTest

final class StepBreakdownTests: XCTestCase {
    func testTrainingBenchmarkBreaksTheStepDownAndCountsConvolutionsPerPass() throws {
        let arch = ResNetArchitecture.resnet(.resnet18, baseWidth: 8)
        let r = try ModelBenchmark.run(training: true, architecture: arch, archName: "resnet18", height: 64, width: 32,
                                       batch: 4, threads: 1, steps: 3, warmup: 1)
        XCTAssertNil(ConvolutionAccounting.attached, "the benchmark detaches its counter")
        XCTAssertEqual(r.last_stride, 2)
        XCTAssertEqual(r.memory.count, 6, "memory is still recorded after each phase of the first step")
        // ResNet-18: the stem, 8 blocks of two 3x3 convolutions, 3 downsample convolutions = 20.
        // Counted on every timed step (a median of 3 with one step counted would be 0).
        // Forward runs each once and backward recomputes the stem's; backward-data runs for
        // all but the stem (the image needs no gradient); backward-weights for all.
        let calls = try XCTUnwrap(r.conv_calls)
        XCTAssertEqual(calls, ConvolutionPasses(forward: 21, backward_data: 19, backward_weights: 20))
        let phases = try XCTUnwrap(r.phases_ms)
        for (name, ms) in [("forward", phases.forward), ("losses", phases.losses), ("backward", phases.backward),
                           ("update", phases.update), ("other", phases.other)] {
            XCTAssertGreaterThanOrEqual(ms, 0, name)
        }
        // Medians of 3 steps: had only the first timed step been observed, these would be 0.
        XCTAssertGreaterThan(phases.forward, 0)
        XCTAssertGreaterThan(phases.backward, 0)
        let conv = try XCTUnwrap(r.conv_ms), inside = try XCTUnwrap(r.conv_primitive_ms)
        let weights = try XCTUnwrap(r.conv_weight_reorder_ms)
        for (whole, primitive, reorder) in [(conv.forward, inside.forward, weights.forward),
                                            (conv.backward_data, inside.backward_data, weights.backward_data),
                                            (conv.backward_weights, inside.backward_weights, weights.backward_weights)] {
            XCTAssertGreaterThanOrEqual(primitive, 0)
            XCTAssertGreaterThanOrEqual(reorder, 0)
            // Each step's call time holds both; medians keep that order one figure at a time.
            XCTAssertGreaterThanOrEqual(whole, primitive, "the primitive runs inside the call")
            XCTAssertGreaterThanOrEqual(whole, reorder, "the weight reorder runs inside the call")
        }
        XCTAssertEqual(try XCTUnwrap(r.conv_share), conv.total / r.ms_per_step, accuracy: 1e-12)

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: encoder.encode(r)) as? [String: Any])
        XCTAssertEqual((json["phases_ms"] as? [String: Double]).map { Set($0.keys) },
                       ["forward", "losses", "backward", "update", "other"])
        for key in ["conv_ms", "conv_primitive_ms", "conv_weight_reorder_ms"] {
            XCTAssertEqual((json[key] as? [String: Double]).map { Set($0.keys) },
                           ["forward", "backward_data", "backward_weights"], key)
        }
        XCTAssertEqual(json["conv_calls"] as? [String: Int], ["forward": 21, "backward_data": 19, "backward_weights": 20])
        XCTAssertNotNil(json["conv_share"] as? Double)
        let decoded = try JSONDecoder().decode(ModelBenchmarkResult.self, from: encoder.encode(r))
        XCTAssertEqual(decoded.conv_calls, r.conv_calls)
        XCTAssertEqual(decoded.phases_ms, r.phases_ms)

        let inference = try ModelBenchmark.run(training: false, architecture: arch, archName: "resnet18", height: 64,
                                               width: 32, batch: 4, threads: 1, steps: 1, warmup: 1)
        XCTAssertNil(inference.phases_ms)
        XCTAssertNil(inference.conv_ms)
        let inferenceJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: encoder.encode(inference)) as? [String: Any])
        for key in ["phases_ms", "conv_ms", "conv_primitive_ms", "conv_weight_reorder_ms", "conv_calls", "conv_share"] {
            XCTAssertNil(inferenceJSON[key], key)
        }
    }
}
