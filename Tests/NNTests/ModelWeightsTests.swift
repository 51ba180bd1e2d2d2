// Safetensors reading and writing, importing a torchvision checkpoint by key name, and
// the errors for wrong shapes, missing keys, truncated files and NaN or infinite values
// (nothing loaded).
import Foundation
import NN
import Tensors
import TestSupport
import XCTest

final class ModelWeightsTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("reidprune-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func fixturePath(_ name: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name).safetensors").path
    }

    func testImportTorchvisionCheckpointReproducesPyTorchFeatures() throws {
        let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 8), head: HeadConfig(bnneck: false))
        try ModelWeights.load(fixturePath("torchvision_resnet18_w8"), into: net, match: .backbone)
        let expected = try SafetensorsFile(path: fixturePath("torchvision_resnet18_w8_expected"))
        let e = expected.entry("input")!
        let x = LayoutConversion.toNHWC(Tensor(shape: e.shape, layout: .nchw, values: try expected.floats("input")))
        let out = try net.forward(x, mode: .inference)
        XCTAssertLessThanOrEqual(relativeError(out.features.toArray(), try expected.floats("pooled")), 1e-4)
    }

    func testStrictImportOfTorchvisionFileNamesUnexpectedFC() throws {
        let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 8), head: HeadConfig(bnneck: false))
        XCTAssertThrowsError(try ModelWeights.load(fixturePath("torchvision_resnet18_w8"), into: net)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("unexpected keys (2): fc.bias, fc.weight"), text)
        }
    }

    func testRoundTripCarriesArchitectureAndValues() throws {
        var arch = ResNetArchitecture.resnet(.resnet18, baseWidth: 4)
        arch.stages[1].blocks[0].inner = [3]  // a pruned block
        let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 5), seed: 9)
        net.store.buffer(net.store.lookup("bn1.num_batches_tracked")!.index)[0] = 7
        let path = tmp.appendingPathComponent("model.safetensors").path
        try ModelWeights.save(net, to: path)
        let loaded = try ModelWeights.loadNet(path)
        XCTAssertEqual(loaded.architecture, arch)
        XCTAssertEqual(loaded.headConfig, net.headConfig)
        XCTAssertEqual(loaded.store.checksum().sum, net.store.checksum().sum)
        XCTAssertEqual(loaded.store.checksum().weighted, net.store.checksum().weighted)
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.entry("bn1.num_batches_tracked")?.dtype, .I64)
        XCTAssertEqual(try file.int64s("bn1.num_batches_tracked"), [7])
        XCTAssertEqual(file.entry("layer2.0.conv1.weight")?.shape, [3, 4, 3, 3])
        // The pruned file is still a ResNet-18: the name a recipe or --arch must give.
        XCTAssertEqual(arch.depthName, "resnet18")
        XCTAssertNoThrow(try ModelWeights.loadNet(path, expected: "resnet18"))
        XCTAssertThrowsError(try ModelWeights.loadNet(path, expected: "resnet34")) { error in
            XCTAssertTrue("\(error)".contains("holds a (possibly pruned) resnet18, not the resnet34"), "\(error)")
        }
    }

    func testDepthNamesOfEveryDepth() {
        for depth in ResNetArchitecture.Depth.allCases {
            XCTAssertEqual(ResNetArchitecture.resnet(depth, baseWidth: 8, lastStride: 1).depthName, depth.name)
        }
        let odd = ResNetArchitecture.resnet(block: .bottleneck, blocks: [1, 1, 1, 1], baseWidth: 8)
        XCTAssertEqual(odd.depthName, "bottleneck ResNet with 1/1/1/1 blocks")
    }

    /// Writes a copy of a saved model with one tensor changed by `edit`.
    func savedModel(_ edit: (inout [String: ([Float], [Int])]) -> Void) throws -> (ReIDNet, String) {
        let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true), seed: 1)
        let source = try SafetensorsFile(data: try SafetensorsWriter.forNet(net).encoded())
        var tensors: [String: ([Float], [Int])] = [:]
        for e in source.entries { tensors[e.name] = (try source.floats(e.name), e.shape) }
        edit(&tensors)
        var w = SafetensorsWriter()
        for name in tensors.keys.sorted() { w.add(name, floats: tensors[name]!.0, shape: tensors[name]!.1) }
        let path = tmp.appendingPathComponent("edited.safetensors").path
        try w.write(to: path)
        let target = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true), seed: 2)
        return (target, path)
    }

    func assertNothingLoaded(_ net: ReIDNet, _ before: (Double, Double), file: StaticString = #filePath,
                             line: UInt = #line) {
        let after = net.store.checksum()
        XCTAssertEqual(after.sum, before.0, file: file, line: line)
        XCTAssertEqual(after.weighted, before.1, file: file, line: line)
    }

    func testWrongShapeNamesTheKeyAndLoadsNothing() throws {
        let (net, path) = try savedModel { t in t["layer1.0.conv2.weight"] = ([Float](repeating: 0, count: 4 * 4 * 3), [4, 4, 3, 1]) }
        let before = net.store.checksum()
        XCTAssertThrowsError(try ModelWeights.load(path, into: net)) { error in
            XCTAssertTrue("\(error)".contains("layer1.0.conv2.weight: file [4, 4, 3, 1], model [4, 4, 3, 3]"), "\(error)")
            XCTAssertTrue("\(error)".contains("nothing was loaded"), "\(error)")
        }
        assertNothingLoaded(net, (before.sum, before.weighted))
    }

    func testMissingKeyIsNamedAndLoadsNothing() throws {
        let (net, path) = try savedModel { t in t["layer3.1.bn2.running_var"] = nil }
        let before = net.store.checksum()
        XCTAssertThrowsError(try ModelWeights.load(path, into: net)) { error in
            XCTAssertTrue("\(error)".contains("missing keys (1): layer3.1.bn2.running_var"), "\(error)")
        }
        assertNothingLoaded(net, (before.sum, before.weighted))
    }

    func testTruncatedBodyNamesTheByteOffset() throws {
        let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true), seed: 1)
        let data = try SafetensorsWriter.forNet(net).encoded()
        let path = tmp.appendingPathComponent("truncated.safetensors").path
        let cut = data.count - 1000
        try data.prefix(cut).write(to: URL(fileURLWithPath: path))
        let before = net.store.checksum()
        XCTAssertThrowsError(try ModelWeights.load(path, into: net)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("file ends at byte offset \(cut) (truncated)"), text)
            XCTAssertTrue(text.contains("needs bytes up to offset"), text)
        }
        assertNothingLoaded(net, (before.sum, before.weighted))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SafetensorsFile(path: path)) { XCTAssertTrue("\($0)".contains("too short"), "\($0)") }
        // Offsets near Int.max: the message itself must not overflow.
        let header = Data(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775803,9223372036854775807]}}"#.utf8)
        var file = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) }
        file += header
        try file.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SafetensorsFile(path: path)) {
            XCTAssertTrue("\($0)".contains("tensor 'a' has data offsets [9223372036854775803, 9223372036854775807]: more "
                                           + "bytes than any file can hold"), "\($0)")
        }
    }

    func testHalfPrecisionAndIntegerDtypesConvert() throws {
        // A hand-written file: F16 [1.5, -2], BF16 [3], I32 [7, -1].
        let header = #"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"c":{"dtype":"I32","shape":[2],"data_offsets":[6,14]}}"#
        var data = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        for h in [Float16(1.5), Float16(-2)] { var b = h.bitPattern.littleEndian; withUnsafeBytes(of: &b) { data.append(contentsOf: $0) } }
        var bf = UInt16(Float(3).bitPattern >> 16).littleEndian
        withUnsafeBytes(of: &bf) { data.append(contentsOf: $0) }
        for i in [Int32(7), Int32(-1)] { var b = i.littleEndian; withUnsafeBytes(of: &b) { data.append(contentsOf: $0) } }
        let file = try SafetensorsFile(data: data)
        XCTAssertEqual(try file.floats("a"), [1.5, -2])
        XCTAssertEqual(try file.floats("b"), [3])
        XCTAssertEqual(try file.int64s("c"), [7, -1])
    }

    func testNaNOrInfinityIsRefusedNamingFileAndTensorAndLoadsNothing() throws {
        let (net, path) = try savedModel { t in t["conv1.weight"]!.0 = t["conv1.weight"]!.0.map { _ in .nan } }
        let before = net.store.checksum()
        func count(_ name: String) -> Int { net.store.parameterSlots[net.store.lookup(name)!.index].count }
        XCTAssertThrowsError(try ModelWeights.load(path, into: net)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix(path + ": non-finite values in 1 tensor(s), nothing was loaded"), text)
            XCTAssertTrue(text.contains("conv1.weight (\(count("conv1.weight")) NaN of \(count("conv1.weight")) values)"), text)
        }
        assertNothingLoaded(net, (before.sum, before.weighted))

        let (other, infPath) = try savedModel { t in
            t["layer1.0.bn1.running_var"]!.0[2] = .infinity
            t["layer4.1.conv2.weight"]!.0[0] = -.infinity
            t["layer4.1.conv2.weight"]!.0[5] = .nan
        }
        XCTAssertThrowsError(try ModelWeights.load(infPath, into: other)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("in 2 tensor(s)"), text)
            XCTAssertTrue(text.contains("layer1.0.bn1.running_var (1 infinite of 4 values)"), text)
            XCTAssertTrue(text.contains("layer4.1.conv2.weight (1 NaN and 1 infinite of \(count("layer4.1.conv2.weight")) values)"),
                          text)
        }
    }

    func testNaNIsRefusedByLoadNetAndByABackboneImport() throws {
        // A reidprune model file (architecture in its metadata), read by eval, extract, prune, flops.
        let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true, numClasses: 3))
        net.store.parameter(net.store.lookup("layer2.0.conv1.weight")!.index)[7] = .nan
        let path = tmp.appendingPathComponent("nan.safetensors").path
        try ModelWeights.save(net, to: path)
        XCTAssertThrowsError(try ModelWeights.loadNet(path)) { error in
            XCTAssertTrue("\(error)".contains("\(path): non-finite values in 1 tensor(s)"), "\(error)")
            XCTAssertTrue("\(error)".contains("layer2.0.conv1.weight (1 NaN of "), "\(error)")
        }
        // A torchvision backbone (keys as PyTorch names them, `fc` included), loaded partially.
        let file = try SafetensorsFile(path: fixturePath("torchvision_resnet18_w8"))
        var w = SafetensorsWriter()
        for e in file.entries where e.dtype == .F32 {
            var values = try file.floats(e.name)
            if e.name == "layer3.0.downsample.1.weight" { values[0] = .infinity }
            w.add("module." + e.name, floats: values, shape: e.shape)
        }
        for e in file.entries where e.dtype == .I64 { w.add("module." + e.name, int64s: try file.int64s(e.name), shape: e.shape) }
        let torchvision = tmp.appendingPathComponent("torchvision.safetensors").path
        try w.write(to: torchvision)
        let target = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 8), head: HeadConfig(bnneck: false))
        let before = target.store.checksum()
        XCTAssertThrowsError(try ModelWeights.load(torchvision, into: target, match: .backbone)) { error in
            XCTAssertTrue("\(error)".contains("module.layer3.0.downsample.1.weight (1 infinite of 32 values)"), "\(error)")
        }
        assertNothingLoaded(target, (before.sum, before.weighted))
    }

    /// Metadata whose head or architecture describes a larger network than the tensors
    /// hold is refused, naming the file, before that network is allocated.
    func testMetadataOfAHugeNetworkIsRefusedBeforeAllocating() throws {
        let net = try ReIDNet(architecture: .resnet(.resnet18, baseWidth: 4), head: HeadConfig(bnneck: true, numClasses: 3))
        func edited(_ key: String, _ value: String) throws -> String {
            var w = try SafetensorsWriter.forNet(net)
            w.metadata[key] = value
            let path = tmp.appendingPathComponent("meta-\(UUID().uuidString).safetensors").path
            try w.write(to: path)
            return path
        }
        let huge = try edited(ModelWeights.headKey, #"{"bnneck":true,"embeddingDim":0,"numClasses":4000000000000,"task":"reid"}"#)
        XCTAssertThrowsError(try ModelWeights.loadNet(huge)) {
            XCTAssertEqual("\($0)", "\(huge): invalid architecture: head numClasses 4000000000000 (0 to 10000000)")
        }
        let negative = try edited(ModelWeights.headKey, #"{"bnneck":true,"embeddingDim":-4,"numClasses":3,"task":"reid"}"#)
        XCTAssertThrowsError(try ModelWeights.loadNet(negative)) {
            XCTAssertTrue("\($0)".contains("head embeddingDim -4 (0 to 65536)"), "\($0)")
        }
        let wide = try edited(ModelWeights.headKey, #"{"bnneck":true,"embeddingDim":0,"numClasses":9000000,"task":"reid"}"#)
        XCTAssertThrowsError(try ModelWeights.loadNet(wide)) {
            XCTAssertTrue("\($0)".contains("its architecture metadata describes "), "\($0)")
            XCTAssertTrue("\($0)".contains(" parameters, but its tensors hold "), "\($0)")
        }
    }

    func testNonFiniteCountsOfHalfPrecisionAndDoubleTensors() throws {
        // F16 [NaN, inf, 1], BF16 [-inf, 2], F64 [1e300 (infinite as a Float), 3].
        let header = #"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},"c":{"dtype":"F64","shape":[2],"data_offsets":[10,26]}}"#
        var data = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        for h in [Float16.nan, Float16.infinity, Float16(1)] { var b = h.bitPattern.littleEndian; withUnsafeBytes(of: &b) { data.append(contentsOf: $0) } }
        for f in [-Float.infinity, 2] { var b = UInt16(f.bitPattern >> 16).littleEndian; withUnsafeBytes(of: &b) { data.append(contentsOf: $0) } }
        for d in [1e300, 3.0] { var b = d.bitPattern.littleEndian; withUnsafeBytes(of: &b) { data.append(contentsOf: $0) } }
        let file = try SafetensorsFile(data: data, path: "half.safetensors")
        XCTAssertTrue(try file.nonFiniteCounts("a") == (1, 1))
        XCTAssertTrue(try file.nonFiniteCounts("b") == (0, 1))
        XCTAssertTrue(try file.nonFiniteCounts("c") == (0, 1))
        XCTAssertThrowsError(try file.requireFinite(["a", "b", "c"])) { error in
            XCTAssertTrue("\(error)".contains("half.safetensors: non-finite values in 3 tensor(s)"), "\(error)")
        }
    }
}
