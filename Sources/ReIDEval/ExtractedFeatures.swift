// ExtractedFeatures: the features of one split with their labels, features (N, D), pids
// and camids, optionally each row's image path (relative to the data folder), and their
// safetensors file (F32 features, I64 pids and camids, paths as a JSON list and the
// synthetic-data label in the metadata) that `reidprune extract` writes and `evaluate`
// and `visrank` read.
import Foundation
import Tensors

public struct ExtractedFeatures {
    /// (N, D)
    public var features: Tensor
    public var pids: [Int]
    public var camids: [Int]
    /// Each row's image, relative to the data folder (or absolute); nil when not recorded.
    public var paths: [String]?
    /// Extracted from synthetic data (SynthReID): metrics computed from it say so.
    public var synthetic = false

    public init(features: Tensor, pids: [Int], camids: [Int], paths: [String]? = nil, synthetic: Bool = false) {
        self.features = features
        self.pids = pids
        self.camids = camids
        self.paths = paths
        self.synthetic = synthetic
    }

    /// The metadata key holding the image paths (a JSON list of N strings).
    public static let pathsKey = "paths"
    /// The metadata key marking features of synthetic data ("true").
    public static let syntheticKey = "synthetic"

    /// Writes features, pids and camids as a safetensors file (F32, I64, I64).
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        var w = SafetensorsWriter()
        w.add("features", floats: UnsafeBufferPointer(features.buffer), shape: features.shape)
        w.add("pids", int64s: pids.map(Int64.init), shape: [pids.count])
        w.add("camids", int64s: camids.map(Int64.init), shape: [camids.count])
        w.metadata = metadata
        if synthetic { w.metadata[Self.syntheticKey] = "true" }
        if let paths {
            precondition(paths.count == pids.count, "ExtractedFeatures: \(paths.count) paths for \(pids.count) rows")
            w.metadata[Self.pathsKey] = String(decoding: try JSONEncoder().encode(paths), as: UTF8.self)
        }
        try w.write(to: path)
    }

    /// Reads a features file; errors name the missing tensor or the mismatch.
    public init(contentsOf path: String) throws {
        let file = try SafetensorsFile(path: path)
        for key in ["features", "pids", "camids"] where file.entry(key) == nil {
            throw WeightsError("\(path): missing tensor '\(key)' (a features file holds features, pids and camids)")
        }
        let e = file.entry("features")!
        guard e.shape.count == 2 else { throw WeightsError("\(path): 'features' must be (N, D), got \(e.shape)") }
        let pids = try file.int64s("pids").map { Int($0) }, camids = try file.int64s("camids").map { Int($0) }
        guard pids.count == e.shape[0], camids.count == e.shape[0] else {
            throw WeightsError("\(path): \(e.shape[0]) features but \(pids.count) pids and \(camids.count) camids")
        }
        let features = Tensor(shape: e.shape, layout: .nc)
        if e.dtype == .F32 {
            // One bulk copy (split over the threads) with the finiteness check on the copied part.
            try file.withBytes("features") { bytes in
                nonisolated(unsafe) let (src, dst) = (bytes.baseAddress!, features.data)
                parallelRanges(features.count, grain: 1 << 16) { r in
                    memcpy(dst + r.lowerBound, src + 4 * r.lowerBound, 4 * r.count)
                }
            }
        } else {
            try file.copyFloats("features", into: features.data, count: features.count)
        }
        if let bad = Self.firstNonFinite(features) { throw WeightsError("\(path): feature \(bad / e.shape[1]) holds NaN or infinite values") }
        var paths: [String]?
        if let text = file.metadata[Self.pathsKey] {
            guard let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)), list.count == e.shape[0] else {
                throw WeightsError("\(path): metadata '\(Self.pathsKey)' is not a list of \(e.shape[0]) image paths")
            }
            paths = list
        }
        self.init(features: features, pids: pids, camids: camids, paths: paths,
                  synthetic: file.metadata[Self.syntheticKey] == "true")
    }

    /// The index of the first NaN or infinite value of `t`, checked in chunks over the threads.
    static func firstNonFinite(_ t: Tensor) -> Int? {
        let chunk = 1 << 18, chunks = (t.count + chunk - 1) / chunk
        var found = [Int](repeating: -1, count: chunks)
        found.withUnsafeMutableBufferPointer { f in
            nonisolated(unsafe) let f = f.baseAddress!
            parallelFor(chunks) { c in
                let start = c * chunk, n = min(chunk, t.count - start)
                let i = Metrics.firstNonFinite(t.data + start, n)
                f[c] = i < 0 ? -1 : start + i
            }
        }
        return found.first { $0 >= 0 }
    }
}
