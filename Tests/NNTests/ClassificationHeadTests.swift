// The classification head against torchvision: a ResNet-50-structured classifier (widths
// scaled by 4/64, `fc` over 7 classes, 64x64 input) from a torchvision state_dict loads
// strictly and gives PyTorch's eval and training logits, label-smoothed cross-entropy
// and `fc` gradients; a model saved here has exactly torchvision's keys, shapes and
// dtypes. Fixtures come from benchmarks/make_classification_head_fixture.py.
import Foundation
import NN
import Tensors
import TestSupport
import XCTest

final class ClassificationHeadTests: XCTestCase {
    static let arch = ResNetArchitecture.resnet(.resnet50, baseWidth: 4, lastStride: 2)

    func fixture(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name).safetensors").path)
    }

    func loaded() throws -> (ReIDNet, SafetensorsFile, Tensor, [Int]) {
        let net = try ReIDNet(architecture: Self.arch, head: .classification(numClasses: 7))
        try ModelWeights.load(try fixture("classification_resnet50_w4"), into: net, match: .strict)
        let expected = try fixture("classification_resnet50_w4_expected")
        let e = expected.entry("input")!
        let x = LayoutConversion.toNHWC(Tensor(shape: e.shape, layout: .nchw, values: try expected.floats("input")))
        return (net, expected, x, try expected.int64s("labels").map { Int($0) })
    }

    func testTorchvisionStateDictLoadsStrictlyAndGivesItsLogits() throws {
        let (net, expected, x, _) = try loaded()
        let out = try net.forward(x, mode: .inference)
        XCTAssertEqual(out.logits?.shape, [4, 7])
        // ResNet-50 depth: float32 summation order alone moves values by ~5e-4 (see PyTorchFixtureTests).
        XCTAssertLessThanOrEqual(relativeError(out.logits!.toArray(), try expected.floats("eval.logits")), 1e-3)
        XCTAssertEqual(out.features.shape, [4, 128])
    }

    func testTrainingLogitsLabelSmoothedLossAndFCGradientsMatchPyTorch() throws {
        let (net, expected, x, labels) = try loaded()
        let out = try net.forward(x, mode: .training)
        XCTAssertLessThanOrEqual(relativeError(out.logits!.toArray(), try expected.floats("train.logits")), 1e-3)
        let g = Tensor(shape: [4, 7], layout: .nc)
        let loss = CrossEntropyLoss(epsilon: 0.1)(logits: out.logits!, labels: labels, gradient: g)
        XCTAssertEqual(loss, Double(try expected.floats("loss.ce")[0]), accuracy: 1e-4)
        try net.backward(dFeatures: nil, dLogits: g)
        let s = net.store
        for name in ["fc.weight", "fc.bias"] {
            let grad = s.gradient(s.lookup(name)!.index).toArray()
            XCTAssertLessThanOrEqual(relativeError(grad, try expected.floats("grad." + name)), 1e-3, name)
        }
        // The gradient reaches the backbone.
        XCTAssertGreaterThan(s.gradient(s.lookup("conv1.weight")!.index).toArray().map(abs).max()!, 0)
    }

    /// What torchvision's load_state_dict(strict=True) checks: the same names, shapes and
    /// (for num_batches_tracked) integer dtype. Writes the file to REIDPRUNE_CLASSIFICATION_OUT
    /// when set, for `make_classification_head_fixture.py --verify`.
    func testSavedClassificationModelLoadsIntoTorchvisionStructure() throws {
        let (net, _, _, _) = try loaded()
        let out = ProcessInfo.processInfo.environment["REIDPRUNE_CLASSIFICATION_OUT"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("cls-\(UUID().uuidString).safetensors").path
        defer { if ProcessInfo.processInfo.environment["REIDPRUNE_CLASSIFICATION_OUT"] == nil { try? FileManager.default.removeItem(atPath: out) } }
        try ModelWeights.save(net, to: out)
        let saved = try SafetensorsFile(path: out), reference = try fixture("classification_resnet50_w4")
        XCTAssertEqual(Set(saved.names), Set(reference.names))
        for name in reference.names {
            XCTAssertEqual(saved.entry(name)?.shape, reference.entry(name)?.shape, name)
            XCTAssertEqual(saved.entry(name)?.dtype == .I64, reference.entry(name)?.dtype == .I64, name)
            XCTAssertEqual(try saved.floats(name), try reference.floats(name), name)
        }
        let back = try ModelWeights.loadNet(out)
        XCTAssertEqual(back.headConfig, .classification(numClasses: 7))
        XCTAssertEqual(back.architecture, Self.arch)
    }

    func testImageNetFileLoadsIntoReIDNetworkWithoutItsFC() throws {
        let net = try ReIDNet(architecture: Self.arch, head: HeadConfig(bnneck: true, numClasses: 3))
        try ModelWeights.load(try fixture("classification_resnet50_w4"), into: net, match: .backbone)
        let s = net.store
        XCTAssertNil(s.lookup("fc.weight"))
        XCTAssertEqual(s.parameter(s.lookup("layer4.2.conv3.weight")!.index).toArray(),
                       try fixture("classification_resnet50_w4").floats("layer4.2.conv3.weight"))
    }

    func testClassificationHeadRejectsReIDOptions() {
        var head = HeadConfig.classification(numClasses: 5)
        head.bnneck = true
        XCTAssertThrowsError(try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: head))
        XCTAssertThrowsError(try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: .classification(numClasses: 0)))
    }

    func testHeadConfigWrittenBeforeTheTaskReadsAsReID() throws {
        let old = #"{"bnneck":true,"embeddingDim":0,"numClasses":751}"#
        let head = try JSONDecoder().decode(HeadConfig.self, from: Data(old.utf8))
        XCTAssertEqual(head, HeadConfig(bnneck: true, numClasses: 751))
        XCTAssertEqual(head.task, .reid)
    }
}
