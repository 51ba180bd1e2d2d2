// swift-tools-version:6.0
// ReIDPrune: Siamese ResNet re-identification training, data-parallel over MPI ranks,
// with structured filter pruning. README.md lists the commands and the modules.
import PackageDescription

let optimize: [SwiftSetting] = []

let package = Package(
    name: "ReIDPrune",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "reidprune", targets: ["reidprune"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .target(name: "CJPEGLib", linkerSettings: [.linkedLibrary("jpeg")]),

        .target(name: "Tensors", dependencies: ["CDNNL"], swiftSettings: optimize),
        .target(name: "NN", dependencies: ["Tensors"], swiftSettings: optimize),
        .target(name: "Optim", dependencies: ["NN", "Tensors"], swiftSettings: optimize),
        .target(name: "Training", dependencies: ["Tensors", "NN", "Optim", "ReIDData", "ReIDEval", "Distributed", "Pruning", "Plots", "Yams"], swiftSettings: optimize),
        .target(name: "ReIDData", dependencies: ["Tensors", "CTurboJPEG", "CPNG", "CArchive", "CJPEGLib"], swiftSettings: optimize),
        .target(name: "ReIDEval", dependencies: ["Tensors"], swiftSettings: optimize),
        .target(name: "Distributed", dependencies: ["Tensors"], swiftSettings: optimize),
        .target(name: "DistributedMPI", dependencies: ["Distributed", "CMPI"], swiftSettings: optimize),
        .target(name: "Pruning", dependencies: ["NN", "Tensors"], swiftSettings: optimize),
        .target(name: "Benchmarks", dependencies: ["Training", "Tensors", "NN", "Pruning", "ReIDData", "ReIDEval",
                                                   "Distributed"], swiftSettings: optimize),
        .target(name: "Plots", swiftSettings: optimize),
        .target(name: "Export", dependencies: ["NN", "Tensors", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["onnx.proto"], swiftSettings: optimize),
        .target(name: "TestSupport", dependencies: ["Tensors"]),

        .executableTarget(name: "reidprune", dependencies: [
            "Training", "DistributedMPI", "Distributed", "Benchmarks", "Export", "NN", "ReIDData", "ReIDEval", "Tensors",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: optimize),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Optim", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "NN", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Distributed", "NN", "Optim", "ReIDData", "Pruning",
                                                          "TestSupport"]),
        .testTarget(name: "ReIDDataTests", dependencies: ["ReIDData", "NN", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ReIDEvalTests", dependencies: ["ReIDEval", "Tensors", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "DistributedMPI", "Training", "NN", "Tensors",
                                                             "ReIDData", "TestSupport"]),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "NN", "Optim", "TestSupport"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "NN", "Tensors", "TestSupport",
                                                        .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "CShimsTests", dependencies: ["CMPI", "CDNNL", "CTurboJPEG"]),
    ]
)
