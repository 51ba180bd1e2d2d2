// SynthClassStyle: what makes a synthetic class recognisable: its shape, the texture on
// the shape, a palette of three colors, a background style and the usual object count
// and size; drawn once per class from the keyed generator.
import Foundation
import Tensors

struct SynthClassStyle: Sendable {
    enum Shape: Int, CaseIterable { case disc, ring, square, triangle, cross, star, diamond, crescent }
    enum Texture: Int, CaseIterable { case solid, stripes, checker, dots, radial }
    enum Background: Int, CaseIterable { case gradient, stripes, blotches, grid }

    let shape: Shape
    let texture: Texture
    let background: Background
    /// Object, second object color (texture), background base; components 0...255.
    let palette: [(Double, Double, Double)]
    /// Texture period in pixels (relative to the object's size), and its angle.
    let period: Double
    let angle: Double
    /// Object aspect (width / height) and its size as a share of the image's shorter side.
    let aspect: Double
    let size: Double
    let backgroundPeriod: Double

    init(seed: UInt64, index: Int) {
        var r = SeededRandom(seed: seed, keys: 0x5354_594C, index)
        // Shape and texture cycle with the index so that nearby classes differ in them;
        // palette and the numbers are drawn.
        shape = Shape(rawValue: index % Shape.allCases.count)!
        texture = Texture(rawValue: (index / Shape.allCases.count) % Texture.allCases.count)!
        background = Background(rawValue: r.int(Background.allCases.count))!
        func color() -> (Double, Double, Double) { (r.uniform(20, 235), r.uniform(20, 235), r.uniform(20, 235)) }
        palette = [color(), color(), color()]
        period = r.uniform(0.08, 0.3)
        angle = r.uniform(0, Double.pi)
        aspect = exp(r.uniform(log(0.6), log(1.6)))
        size = r.uniform(0.25, 0.55)
        backgroundPeriod = r.uniform(12, 60)
    }

    var description: String {
        func hex(_ c: (Double, Double, Double)) -> String { String(format: "#%02x%02x%02x", Int(c.0), Int(c.1), Int(c.2)) }
        return "\(shape) with \(texture) texture in \(hex(palette[0]))/\(hex(palette[1])) on a \(background) "
            + "background \(hex(palette[2])) (synthetic)"
    }

    /// Whether (u, v), in the object's frame scaled to [-1, 1], is inside the shape.
    func inside(_ u: Double, _ v: Double) -> Bool {
        switch shape {
        case .disc: return u * u + v * v <= 1
        case .ring: let d = u * u + v * v; return d <= 1 && d >= 0.36
        case .square: return abs(u) <= 0.85 && abs(v) <= 0.85
        case .triangle: return v <= 0.8 && v >= -0.9 + 1.7 * abs(u)
        case .cross: return (abs(u) <= 0.3 && abs(v) <= 1) || (abs(v) <= 0.3 && abs(u) <= 1)
        case .star:
            let a = atan2(v, u), d = (u * u + v * v).squareRoot()
            return d <= 0.55 + 0.45 * abs(cos(2.5 * a))
        case .diamond: return abs(u) + abs(v) <= 1
        case .crescent: return u * u + v * v <= 1 && (u - 0.45) * (u - 0.45) + v * v > 0.55
        }
    }

    /// The texture's mix between the two object colors at (u, v) in [-1, 1] (0 first, 1 second).
    func textureMix(_ u: Double, _ v: Double) -> Double {
        let p = period * 2
        switch texture {
        case .solid: return 0
        case .stripes:
            let t = (u * cos(angle) + v * sin(angle)) / p
            return t - t.rounded(.down) < 0.5 ? 0 : 1
        case .checker:
            let a = Int(((u + 2) / p).rounded(.down)), b = Int(((v + 2) / p).rounded(.down))
            return (a + b) % 2 == 0 ? 0 : 1
        case .dots:
            let fu = (u + 2) / p, fv = (v + 2) / p
            let du = fu - fu.rounded() , dv = fv - fv.rounded()
            return du * du + dv * dv < 0.09 ? 1 : 0
        case .radial:
            let d = (u * u + v * v).squareRoot() / p
            return d - d.rounded(.down) < 0.5 ? 0 : 1
        }
    }
}
