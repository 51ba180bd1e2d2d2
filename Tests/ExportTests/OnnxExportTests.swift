// ONNX export round trips on small networks (a pruned ResNet-18 of base width 4, 64x32
// inputs): the bytes are read back with the generated schema and checked structurally
// (operators, every shape, initializers equal to the folded or unfolded weights, a
// well-ordered graph), then run by a reference interpreter and compared with the
// network's own inference. Folded and unfolded BN, dynamic batch, classification logits.
import Export
import Foundation
import NN
import SwiftProtobuf
import Tensors
import TestSupport
import XCTest

final class OnnxExportTests: XCTestCase {
    /// A ResNet-18 of base width 4 with pruned inner widths (3 and 5 channels where 8 and
    /// 16 were), its BN scales, shifts and running statistics drawn away from their
    /// initial values so that folding changes every weight.
    static func network(head: HeadConfig, seed: UInt64 = 3) throws -> ReIDNet {
        var arch = ResNetArchitecture.resnet(.resnet18, baseWidth: 4, lastStride: 1)
        arch.stages[1].blocks[0].inner = [3]
        arch.stages[2].blocks[1].inner = [5]
        let net = try ReIDNet(architecture: arch, head: head, seed: seed)
        var rng = SeededRandom(seed: seed, keys: [1])
        let store = net.store
        for (i, role) in store.parameterRoles.enumerated() {
            let t = store.parameter(i)
            switch role {
            case .normWeight: for j in 0..<t.count { t[j] = rng.uniform(0.5, 1.5) }
            case .normBias, .bias: for j in 0..<t.count { t[j] = rng.uniform(-0.2, 0.2) }
            default: break
            }
        }
        for (i, role) in store.bufferRoles.enumerated() {
            let t = store.buffer(i)
            switch role {
            case .runningMean: for j in 0..<t.count { t[j] = rng.uniform(-0.3, 0.3) }
            case .runningVariance: for j in 0..<t.count { t[j] = rng.uniform(0.5, 2) }
            default: break
            }
        }
        store.parametersChanged()
        return net
    }

    static func options(batch: Int? = 2, fold: Bool = true) -> OnnxExporter.Options {
        var o = OnnxExporter.Options()
        (o.height, o.width, o.batch, o.foldBatchNorm) = (64, 32, batch, fold)
        return o
    }

    /// Exports and reads the bytes back with the generated schema.
    static func roundTrip(_ net: ReIDNet, _ options: OnnxExporter.Options) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: try OnnxExporter.data(net, options: options))
    }

    static func initializers(_ model: Onnx_ModelProto) -> [String: (dims: [Int], values: [Float])] {
        Dictionary(uniqueKeysWithValues: model.graph.initializer.map {
            ($0.name, ($0.dims.map { Int($0) }, OnnxReference.floats($0.rawData)))
        })
    }

    static func dims(_ v: Onnx_ValueInfoProto) -> [String] {
        v.type.tensorType.shape.dim.map { d in
            switch d.value {
            case .dimValue(let n): return "\(n)"
            case .dimParam(let s): return s
            case nil: return "?"
            }
        }
    }

    /// Every node reads the input, an initializer or an earlier node's output; every
    /// initializer is read; every node output has a shape in value_info or is the output.
    func assertWellFormed(_ model: Onnx_ModelProto, file: StaticString = #filePath, line: UInt = #line) {
        let g = model.graph
        var known = Set(g.input.map(\.name) + g.initializer.map(\.name))
        var read = Set<String>()
        for n in g.node {
            for i in n.input {
                XCTAssertTrue(known.contains(i), "\(n.name) reads \(i) before it exists", file: file, line: line)
                read.insert(i)
            }
            known.formUnion(n.output)
        }
        XCTAssertEqual(Set(g.initializer.map(\.name)).subtracting(read), [], "unused initializers", file: file, line: line)
        let described = Set(g.valueInfo.map(\.name) + g.output.map(\.name))
        XCTAssertEqual(Set(g.node.flatMap(\.output)), described, "node outputs without a shape", file: file, line: line)
    }

    /// Runs the graph read back from its bytes and the network on the same random images.
    func assertMatchesNetwork(_ net: ReIDNet, _ model: Onnx_ModelProto, batch: Int = 2,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = SeededRandom(seed: 11)
        let nchw = rng.array(batch * 3 * 64 * 32, -2, 2)
        let images = LayoutConversion.toNHWC(Tensor(shape: [batch, 3, 64, 32], layout: .nchw, values: nchw))
        let out = try net.forward(images, mode: .inference)
        let expected = (net.headConfig.task == .classification ? out.logits! : out.embeddings).toArray()
        let got = try OnnxReference(model: model).run(OnnxReference.Value(shape: [batch, 3, 64, 32], data: nchw))
        XCTAssertEqual(got.shape, [batch, expected.count / batch], file: file, line: line)
        XCTAssertLessThanOrEqual(relativeError(got.data, expected), 1e-4, file: file, line: line)
    }

    func testFoldedExportRoundTripsWithFoldedWeightsAndShapes() throws {
        let net = try Self.network(head: HeadConfig(bnneck: true, embeddingDim: 0, numClasses: 5))
        let model = try Self.roundTrip(net, Self.options())
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.opsetImport.map(\.version), [17])
        XCTAssertEqual(model.opsetImport.map(\.domain), [""])
        let g = model.graph
        XCTAssertEqual(g.input.map(\.name), ["images"])
        XCTAssertEqual(Self.dims(g.input[0]), ["2", "3", "64", "32"])
        XCTAssertEqual(g.output.map(\.name), ["features"])
        XCTAssertEqual(Self.dims(g.output[0]), ["2", "32"])
        let units = net.backbone.units
        let ops = g.node.map(\.opType)
        XCTAssertEqual(ops.filter { $0 == "Conv" }.count, units.count)
        XCTAssertEqual(ops.filter { $0 == "BatchNormalization" }.count, 0)
        XCTAssertEqual(ops.filter { $0 == "MaxPool" }.count, 1)
        // One Add per block and BNNeck's shift; the neck's scale is a Mul.
        XCTAssertEqual(ops.filter { $0 == "Add" }.count, 8 + 1)
        XCTAssertEqual(ops.filter { $0 == "Mul" }.count, 1)
        XCTAssertEqual(Array(ops.suffix(5)), ["Relu", "GlobalAveragePool", "Mul", "Add", "Flatten"])
        let inits = Self.initializers(model)
        for u in units {
            let (w, b) = u.foldedParameters()
            let wi = try XCTUnwrap(inits["\(u.convName).weight"], u.convName)
            XCTAssertEqual(wi.dims, [u.outChannels, u.inChannels, u.kernel, u.kernel], u.convName)
            XCTAssertEqual(wi.values, w.toArray(), u.convName)
            XCTAssertEqual(inits["\(u.convName).bias"]?.values, b.toArray(), u.convName)
            XCTAssertNotEqual(wi.values, net.store.parameter(u.parameterIndices.weight).toArray(), "\(u.convName): not folded")
        }
        // The pruned widths are the file's: layer2.0.conv1 keeps 3 of 8 filters.
        XCTAssertEqual(inits["layer2.0.conv1.weight"]?.dims, [3, 4, 3, 3])
        XCTAssertEqual(inits["layer2.0.conv2.weight"]?.dims, [8, 3, 3, 3])
        XCTAssertEqual(inits["layer3.1.conv1.weight"]?.dims, [5, 16, 3, 3])
        let shapes = Dictionary(uniqueKeysWithValues: g.valueInfo.map { ($0.name, Self.dims($0)) })
        XCTAssertEqual(shapes["conv1"], ["2", "4", "32", "16"])
        XCTAssertEqual(shapes["maxpool"], ["2", "4", "16", "8"])
        XCTAssertEqual(shapes["layer2.0.conv1"], ["2", "3", "8", "4"])
        XCTAssertEqual(shapes["layer3.1"], ["2", "16", "4", "2"])
        XCTAssertEqual(shapes["layer4.1"], ["2", "32", "4", "2"], "last stride 1 keeps layer3's resolution")
        XCTAssertEqual(shapes["avgpool"], ["2", "32", "1", "1"])
        // The classifier is training-only: nothing of it is exported.
        XCTAssertNil(inits["classifier.weight"])
        let meta = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        let archJSON = try XCTUnwrap(meta["reidprune.architecture"])
        XCTAssertEqual(try JSONDecoder().decode(ResNetArchitecture.self, from: Data(archJSON.utf8)), net.architecture)
        XCTAssertEqual(meta["input_height"], "64")
        assertWellFormed(model)
        try assertMatchesNetwork(net, model)
    }

    func testNoFoldKeepsBatchNormalizationNodesWithRunningStatistics() throws {
        let net = try Self.network(head: HeadConfig(bnneck: true, embeddingDim: 6, numClasses: 5))
        let model = try Self.roundTrip(net, Self.options(fold: false))
        let g = model.graph
        let units = net.backbone.units
        let bns = g.node.filter { $0.opType == "BatchNormalization" }
        XCTAssertEqual(bns.map(\.name), units.map(\.bnName) + ["bnneck"])
        XCTAssertTrue(g.node.filter { $0.opType == "Conv" }.allSatisfy { $0.input.count == 2 || $0.name == "embedding" })
        let inits = Self.initializers(model)
        let store = net.store
        for u in units {
            let p = u.parameterIndices, s = u.bufferIndices
            XCTAssertEqual(inits["\(u.convName).weight"]?.values, store.parameter(p.weight).toArray(), u.convName)
            XCTAssertEqual(inits["\(u.bnName).weight"]?.values, store.parameter(p.gamma).toArray(), u.bnName)
            XCTAssertEqual(inits["\(u.bnName).bias"]?.values, store.parameter(p.beta).toArray(), u.bnName)
            XCTAssertEqual(inits["\(u.bnName).running_mean"]?.values, store.buffer(s.mean).toArray(), u.bnName)
            XCTAssertEqual(inits["\(u.bnName).running_var"]?.values, store.buffer(s.variance).toArray(), u.bnName)
            XCTAssertNil(inits["\(u.convName).bias"])
        }
        let epsilons = bns.map { $0.attribute.first { $0.name == "epsilon" }?.f }
        XCTAssertEqual(epsilons, Array(repeating: Float(1e-5), count: bns.count))
        // The embedding (6 x 32) as a 1x1 convolution, BNNeck after it on (N, 6, 1, 1).
        XCTAssertEqual(inits["embedding.weight"]?.dims, [6, 32, 1, 1])
        XCTAssertEqual(inits["embedding.weight"]?.values, store.parameter(store.lookup("embedding.weight")!.index).toArray())
        XCTAssertEqual(Self.dims(g.output[0]), ["2", "6"])
        assertWellFormed(model)
        try assertMatchesNetwork(net, model)
        // Folded, the same network has no BN nodes, BNNeck goes into the embedding, and
        // the outputs agree.
        let folded = try Self.roundTrip(net, Self.options())
        XCTAssertFalse(folded.graph.node.contains { $0.opType == "BatchNormalization" || $0.opType == "Mul" })
        XCTAssertNotEqual(Self.initializers(folded)["embedding.weight"]?.values, inits["embedding.weight"]?.values)
        try assertMatchesNetwork(net, folded)
    }

    func testDynamicBatchNamesTheBatchDimension() throws {
        let net = try Self.network(head: HeadConfig(bnneck: false))
        let model = try Self.roundTrip(net, Self.options(batch: nil))
        let g = model.graph
        XCTAssertEqual(Self.dims(g.input[0]), ["batch", "3", "64", "32"])
        XCTAssertEqual(Self.dims(g.output[0]), ["batch", "32"])
        XCTAssertTrue(g.valueInfo.allSatisfy { Self.dims($0).first == "batch" })
        XCTAssertEqual(g.input[0].type.tensorType.shape.dim[0].value, .dimParam("batch"))
        assertWellFormed(model)
        // Any batch size runs: 3 images here.
        try assertMatchesNetwork(net, model, batch: 3)
    }

    func testClassificationModelOutputsLogits() throws {
        let net = try Self.network(head: .classification(numClasses: 7))
        let model = try Self.roundTrip(net, Self.options())
        let g = model.graph
        XCTAssertEqual(g.output.map(\.name), ["logits"])
        XCTAssertEqual(Self.dims(g.output[0]), ["2", "7"])
        let last = try XCTUnwrap(g.node.last)
        XCTAssertEqual(last.opType, "Gemm")
        XCTAssertEqual(last.output, ["logits"])
        XCTAssertEqual(last.attribute.first { $0.name == "transB" }?.i, 1)
        let inits = Self.initializers(model)
        let store = net.store
        XCTAssertEqual(inits["fc.weight"]?.dims, [7, 32])
        XCTAssertEqual(inits["fc.weight"]?.values, store.parameter(store.lookup("fc.weight")!.index).toArray())
        XCTAssertEqual(inits["fc.bias"]?.values, store.parameter(store.lookup("fc.bias")!.index).toArray())
        assertWellFormed(model)
        try assertMatchesNetwork(net, model)
    }

    func testInputSizeTooSmallIsRefused() throws {
        let net = try Self.network(head: HeadConfig(bnneck: false))
        var o = Self.options()
        o.height = 16
        XCTAssertThrowsError(try OnnxExporter.data(net, options: o)) { error in
            XCTAssertTrue("\(error)".contains("--height and --width must be at least 32, got 16x32"), "\(error)")
        }
    }
}
