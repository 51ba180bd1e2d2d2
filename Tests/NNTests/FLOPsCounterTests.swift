// The FLOPs and parameter counter against published ResNet figures and against the
// parameters a built network actually registers, pruned architectures included.
import NN
import XCTest

final class FLOPsCounterTests: XCTestCase {
    func testResNet50At256x128() {
        let cost = FLOPsCounter.count(.resnet(.resnet50), height: 256, width: 128)
        XCTAssertEqual(Double(cost.macs) / 2.69e9, 1, accuracy: 0.01, "GMACs \(Double(cost.macs) / 1e9)")
        XCTAssertEqual(cost.flops, 2 * cost.macs)
        // torchvision's resnet50 has 25,557,032 parameters, 2,049,000 of them in fc.
        XCTAssertEqual(cost.params, 25_557_032 - 2_049_000)
    }

    func testResNet18And50At224MatchTorchvision() {
        // torchvision reports 1.81 and 4.09 GMACs at 224x224 (with fc: +0.5 M and +2.0 M MACs).
        let r18 = FLOPsCounter.count(.resnet(.resnet18), height: 224, width: 224)
        XCTAssertEqual(Double(r18.macs + 512 * 1000) / 1.814e9, 1, accuracy: 0.005)
        XCTAssertEqual(r18.params, 11_689_512 - 513_000)
        let r50 = FLOPsCounter.count(.resnet(.resnet50), height: 224, width: 224)
        XCTAssertEqual(Double(r50.macs + 2048 * 1000) / 4.089e9, 1, accuracy: 0.005)
    }

    func testCountsEqualTheBuiltNetworkForAPrunedArchitecture() throws {
        var arch = ResNetArchitecture.resnet(.resnet50, baseWidth: 8)
        arch.stages[2].blocks[3].inner = [5, 7]
        arch.stages[0].blocks[1].inner = [3, 8]
        let head = HeadConfig(bnneck: true, embeddingDim: 16, numClasses: 10)
        let net = try ReIDNet(architecture: arch, head: head)
        let cost = FLOPsCounter.count(arch, head: head, height: 64, width: 32, includeClassifier: true)
        XCTAssertEqual(cost.params, net.store.parameterCount)
        let conv = cost.layers.first { $0.name == "layer3.3.conv2" }!
        XCTAssertEqual(conv.input, [5, 4, 2])
        XCTAssertEqual(conv.macs, 4 * 2 * 7 * 5 * 9)
    }

    func testStudyConventionCountsEveryOperationAt224() {
        // benchmarks/flops_conventions.py counts the same convention layer by layer: 6.250474496 G
        // for ResNet-50 with last stride 1, 4.125395456 G with last stride 2 (ptflops publishes 4.12 GMac).
        XCTAssertEqual(FLOPsCounter.studyGFLOPs(.resnet(.resnet50, lastStride: 1)), 6.250474496, accuracy: 1e-9)
        XCTAssertEqual(FLOPsCounter.studyGFLOPs(.resnet(.resnet50, lastStride: 2)), 4.125395456, accuracy: 1e-9)
        XCTAssertGreaterThan(FLOPsCounter.studyGFLOPs(.resnet(.resnet18)),
                             Double(FLOPsCounter.count(.resnet(.resnet18), height: 224, width: 224).macs) / 1e9)
    }
}
