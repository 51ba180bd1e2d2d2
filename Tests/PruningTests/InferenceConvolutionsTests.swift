// The convolutions a latency table sums for an architecture follow inference's schedule:
// the stem and the micro-batched blocks once per micro-batch at its size, the rest at
// the whole batch.
import NN
import Pruning
import XCTest

final class InferenceConvolutionsTests: XCTestCase {
    func testMicroBatchedConvolutionsAppearOncePerMicroBatchAtItsSize() throws {
        let arch = ResNetArchitecture.resnet(.resnet50)
        let whole = arch.inferenceConvolutions(batch: 32, height: 256, width: 128, cacheBytes: 512 << 20)
        XCTAssertEqual(whole.count, 53)
        XCTAssertTrue(whole.allSatisfy { $0.batch == 32 })
        // 32 MiB: the stem, layer1 and layer2 (3 + 1 and 4 x 3 + 1 convolutions) in 8
        // micro-batches of 4; layer3 and layer4 (19 + 10) at 32.
        let micro = arch.inferenceConvolutions(batch: 32, height: 256, width: 128, cacheBytes: 32 << 20)
        XCTAssertEqual(micro.filter { $0.batch == 4 }.count, 8 * (1 + 10 + 13))
        XCTAssertEqual(micro.filter { $0.batch == 32 }.count, 19 + 10)
        XCTAssertEqual(micro.count, 8 * 24 + 29)
        // The same convolutions, a micro-batch's share of the images each.
        func images(_ shapes: [ConvShape]) -> [String: Int] {
            var count: [String: Int] = [:]
            for s in shapes {
                var one = s
                one.batch = 1
                count[one.key, default: 0] += s.batch
            }
            return count
        }
        XCTAssertEqual(images(micro), images(whole))
        // The stem's first appearance is micro-batched; layer3's first convolution is not.
        XCTAssertEqual(micro.first, ConvShape(batch: 4, inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: 3,
                                              height: 256, width: 128, post: .relu))
        XCTAssertEqual(micro[8 * 24], ConvShape(batch: 32, inChannels: 512, outChannels: 256, kernel: 1, stride: 1,
                                                padding: 0, height: 32, width: 16, post: .relu))
    }

    /// A hand-made table whose every entry costs its batch size: the network's latency
    /// is the same whether or not it runs on micro-batches, and the table is asked for
    /// the micro-batch shapes only where its cache size makes inference run them.
    func testLatencyTableSumsTheScheduleItsCacheSizeGives() throws {
        let arch = ResNetArchitecture.resnet(.resnet50)
        for cache in [32 << 20, 512 << 20] {
            let table = LatencyTable(machine: "hand-made | 2 threads", cacheBytes: cache) { Double($0.batch) }
            let ms = try table.milliseconds(arch, batch: 32, height: 256, width: 128)
            XCTAssertEqual(ms, 53 * 32)
            XCTAssertEqual(table.entries.keys.contains { $0.batch == 4 }, cache == 32 << 20)
        }
    }
}
