// The training benchmark's memory report: the trainer names each phase of a step in
// order, and `bench train`'s result carries the resident memory and tensor-pool size
// after the model, the trainer and each phase of the first step.
import Foundation
import NN
import Tensors
import Training
import XCTest

final class StepMemoryTests: XCTestCase {
    func testTrainingBenchmarkRecordsMemoryAfterEachPhase() throws {
        let arch = ResNetArchitecture.resnet(block: .bottleneck, blocks: [1, 1, 1, 1], baseWidth: 8)
        let r = try ModelBenchmark.run(training: true, architecture: arch, archName: "tiny", height: 64, width: 32,
                                       batch: 4, threads: 1, steps: 1, warmup: 1)
        XCTAssertEqual(r.memory.map(\.phase), ["model", "trainer", "first forward", "first losses", "first backward",
                                               "first update"])
        let peaks = r.memory.map(\.peak_rss_mb)
        XCTAssertEqual(peaks, peaks.sorted(), "a high-water mark never goes down")
        XCTAssertTrue(r.memory.allSatisfy { $0.rss_mb > 0 && $0.rss_mb <= $0.peak_rss_mb + 1 })
        XCTAssertEqual(r.memory[0].pool_mb, 0)
        XCTAssertGreaterThan(r.memory[2].pool_mb, 0, "saved activations come from the pool")
        XCTAssertGreaterThanOrEqual(r.peak_rss_mb, peaks.last!)
        let inference = try ModelBenchmark.run(training: false, architecture: arch, archName: "tiny", height: 64,
                                               width: 32, batch: 4, threads: 1, steps: 1, warmup: 1)
        XCTAssertEqual(inference.memory.map(\.phase), ["model"])
    }
}
