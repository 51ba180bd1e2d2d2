// SynthDomain: a distribution of camera styles (an indoor mall, a bright street, a
// night scene, a green campus) and the style of each camera drawn from it: viewpoint
// preferences, illumination and color cast, contrast, background scene, blur,
// resolution, noise, JPEG quality, occlusion and bounding-box misalignment. Different
// domains produce a real domain shift; cameras within a domain differ too.
import Tensors

public struct CameraStyle: Codable, Hashable, Sendable {
    public var gain: Double
    public var cast: Color
    public var contrast: Double
    /// Gaussian blur sigma in pixels (at the output size).
    public var blur: Double
    /// Fraction of the output resolution the sensor resolves (downsample, then upsample).
    public var resolution: Double
    /// Gaussian noise sigma (0...1 scale).
    public var noise: Double
    public var qualityRange: [Int]
    /// Weights of front, back, left and right views.
    public var views: [Double]
    public var wall: Color
    public var floor: Color
    /// Fraction of the height where the floor starts.
    public var horizon: Double
    /// Colors of the panels on the wall (shop fronts, windows, trees, lights).
    public var panels: [Color]
    public var occlusion: Double
    /// Largest shift as a fraction of the crop width.
    public var misalignment: Double
    /// Light spots in the scene (night).
    public var lights: Bool
}

public struct SynthDomain: Codable, Hashable, Sendable {
    public var name: String
    var gain: ClosedRange<Double>
    var cast: [Color]
    var contrast: ClosedRange<Double>
    var blur: ClosedRange<Double>
    var resolution: ClosedRange<Double>
    var noise: ClosedRange<Double>
    var quality: ClosedRange<Int>
    var walls: [Color]
    var floors: [Color]
    var panels: [Color]
    var horizon: ClosedRange<Double>
    var occlusion: ClosedRange<Double>
    var misalignment: ClosedRange<Double>
    var lights: Bool

    public static let names = ["mall", "street", "night", "campus"]

    /// The named domain; throws listing the known names.
    public static func named(_ name: String) throws -> SynthDomain {
        switch name {
        case "mall":
            return SynthDomain(
                name: name, gain: 0.85...1.05, cast: [Color(1.08, 1.0, 0.88), Color(1.04, 1.0, 0.95), Color(1.0, 1.0, 1.0)],
                contrast: 0.9...1.05, blur: 0.2...0.9, resolution: 0.7...1.0, noise: 0.01...0.03, quality: 65...90,
                walls: [Color(0.85, 0.82, 0.75), Color(0.7, 0.68, 0.66), Color(0.9, 0.88, 0.85)],
                floors: [Color(0.78, 0.72, 0.62), Color(0.6, 0.6, 0.6), Color(0.85, 0.8, 0.7)],
                panels: [Color(0.8, 0.2, 0.25), Color(0.2, 0.45, 0.75), Color(0.95, 0.8, 0.3), Color(0.3, 0.65, 0.4),
                         Color(0.95, 0.95, 0.95)],
                horizon: 0.55...0.7, occlusion: 0.08...0.2, misalignment: 0.04...0.1, lights: false)
        case "street":
            return SynthDomain(
                name: name, gain: 1.05...1.3, cast: [Color(0.95, 1.0, 1.08), Color(1.0, 1.0, 1.0), Color(1.02, 1.0, 0.97)],
                contrast: 1.05...1.3, blur: 0.0...0.5, resolution: 0.8...1.0, noise: 0.005...0.02, quality: 75...95,
                walls: [Color(0.62, 0.38, 0.3), Color(0.7, 0.7, 0.68), Color(0.55, 0.5, 0.45)],
                floors: [Color(0.35, 0.35, 0.37), Color(0.5, 0.5, 0.5), Color(0.45, 0.42, 0.4)],
                panels: [Color(0.25, 0.3, 0.35), Color(0.6, 0.75, 0.9), Color(0.85, 0.85, 0.8), Color(0.2, 0.2, 0.2)],
                horizon: 0.6...0.75, occlusion: 0.05...0.15, misalignment: 0.03...0.08, lights: false)
        case "night":
            return SynthDomain(
                name: name, gain: 0.35...0.6, cast: [Color(1.25, 0.95, 0.6), Color(0.8, 0.9, 1.25), Color(1.0, 1.0, 1.0)],
                contrast: 0.75...0.95, blur: 0.6...1.5, resolution: 0.5...0.8, noise: 0.03...0.07, quality: 40...70,
                walls: [Color(0.15, 0.15, 0.2), Color(0.2, 0.18, 0.15), Color(0.1, 0.1, 0.12)],
                floors: [Color(0.2, 0.2, 0.22), Color(0.25, 0.22, 0.2)],
                panels: [Color(1.0, 0.85, 0.5), Color(0.6, 0.8, 1.0), Color(0.9, 0.3, 0.3), Color(0.15, 0.15, 0.15)],
                horizon: 0.6...0.75, occlusion: 0.1...0.2, misalignment: 0.05...0.12, lights: true)
        case "campus":
            return SynthDomain(
                name: name, gain: 0.95...1.15, cast: [Color(1.0, 1.0, 1.0), Color(0.98, 1.02, 0.98)],
                contrast: 0.95...1.15, blur: 0.1...0.7, resolution: 0.75...1.0, noise: 0.008...0.025, quality: 70...92,
                walls: [Color(0.3, 0.5, 0.25), Color(0.55, 0.65, 0.8), Color(0.75, 0.72, 0.65)],
                floors: [Color(0.35, 0.55, 0.25), Color(0.7, 0.65, 0.55), Color(0.5, 0.5, 0.5)],
                panels: [Color(0.2, 0.4, 0.15), Color(0.45, 0.3, 0.2), Color(0.85, 0.85, 0.85), Color(0.6, 0.2, 0.15)],
                horizon: 0.5...0.7, occlusion: 0.05...0.15, misalignment: 0.03...0.09, lights: false)
        default:
            throw DatasetError("unknown SynthReID domain '\(name)'; known domains: \(names.joined(separator: ", "))")
        }
    }

    /// The style of camera `index`, drawn from the domain with the data set's seed.
    public func camera(_ index: Int, seed: UInt64) -> CameraStyle {
        var rng = SeededRandom(seed: seed, keys: 2, SynthDomain.names.firstIndex(of: name) ?? 99, index)
        // Each camera looks mostly along one walking direction.
        var views = [1.0, 1.0, 0.6, 0.6]
        views[index % 4] += 2.5
        views[rng.int(4)] += 1
        let quality = rng.int(quality)
        let castColor = rng.pick(cast).jittered(&rng, 0.04)
        return CameraStyle(
            gain: rng.uniform(gain.lowerBound, gain.upperBound), cast: castColor,
            contrast: rng.uniform(contrast.lowerBound, contrast.upperBound),
            blur: rng.uniform(blur.lowerBound, blur.upperBound),
            resolution: rng.uniform(resolution.lowerBound, resolution.upperBound),
            noise: rng.uniform(noise.lowerBound, noise.upperBound),
            qualityRange: [max(quality - 8, 20), min(quality + 8, 98)], views: views,
            wall: rng.pick(walls).jittered(&rng, 0.05), floor: rng.pick(floors).jittered(&rng, 0.05),
            horizon: rng.uniform(horizon.lowerBound, horizon.upperBound),
            panels: (0..<3).map { _ in rng.pick(panels).jittered(&rng, 0.08) },
            occlusion: rng.uniform(occlusion.lowerBound, occlusion.upperBound),
            misalignment: rng.uniform(misalignment.lowerBound, misalignment.upperBound), lights: lights)
    }
}
