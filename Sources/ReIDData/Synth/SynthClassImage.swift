// SynthClassImage: renders one image of a synthetic class: a size of 160-500 px per side
// with a varied aspect, the class's background style, a few neutral clutter blobs, 1-3
// instances of the class's textured shape (position, scale, angle and colors jittered),
// lighting and sensor noise.
import Foundation
import Tensors

enum SynthClassImage {
    static func render(_ s: SynthClassStyle, rng: inout SeededRandom) -> RGBImage {
        let w = rng.int(160...500)
        let lo = max(160, Int(Double(w) * 0.6)), hi = min(500, Int(Double(w) * 1.7))
        let h = rng.int(lo...max(lo, hi))
        var px = [Double](repeating: 0, count: w * h * 3)
        background(s, w, h, &px, &rng)
        // Clutter: neutral ellipses that belong to no class.
        for _ in 0..<rng.int(0...3) {
            let g = rng.uniform(60, 200)
            blob(&px, w, h, cx: rng.uniform(0, Double(w)), cy: rng.uniform(0, Double(h)),
                 r: rng.uniform(0.05, 0.15) * Double(min(w, h)), color: (g, g * rng.uniform(0.9, 1.1), g))
        }
        for _ in 0..<rng.int(1...3) { object(s, w, h, &px, &rng) }
        // Lighting (gain, color cast) and noise.
        let gain = rng.uniform(0.75, 1.2)
        let cast = (rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1))
        let sigma = rng.uniform(2, 9)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        var noise = rng.next()
        let scale = (gain * cast.0, gain * cast.1, gain * cast.2)
        let amplitude = 2 * sigma / 65535
        px.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<(w * h) {
                    for c in 0..<3 {
                        noise = noise &* 6364136223846793005 &+ 1442695040888963407
                        let n = (Double((noise >> 40) & 0xFFFF) - 32767.5) * amplitude
                        let gainC = c == 0 ? scale.0 : (c == 1 ? scale.1 : scale.2)
                        let v = min(max(src[3 * i + c] * gainC + n, 0), 255)
                        dst[3 * i + c] = UInt8(v + 0.5 >= 256 ? 255 : Int(v + 0.5))
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// The background: the class's base color (half of the images; the others a random
    /// color, so the background alone does not give the class away) in the class's style.
    static func background(_ s: SynthClassStyle, _ w: Int, _ h: Int, _ px: inout [Double], _ rng: inout SeededRandom) {
        let own = rng.chance(0.5)
        let random = (rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235))
        let base = own ? s.palette[2] : random
        let j = rng.uniform(-25, 25)
        let b = (base.0 + j, base.1 + j, base.2 + j)
        let a = rng.uniform(0, Double.pi), period = s.backgroundPeriod * rng.uniform(0.8, 1.25)
        let (ca, sa) = (cos(a), sin(a))
        // Separable factors: sin(p + q) = sin p cos q + cos p sin q, products of a row and a column term.
        let k = 2 * Double.pi / period
        let sx = (0..<w).map { sin(Double($0) * ca * k) }, cx = (0..<w).map { cos(Double($0) * ca * k) }
        let sy = (0..<h).map { sin(Double($0) * sa * k) }, cy = (0..<h).map { cos(Double($0) * sa * k) }
        let bx = (0..<w).map { sin(Double($0) / period * 2.1) }, by = (0..<h).map { cos(Double($0) / period * 1.7) }
        let step = max(3, Int(period))
        for y in 0..<h {
            for x in 0..<w {
                var f: Double
                switch s.background {
                case .gradient: f = 0.7 + 0.5 * (Double(x) * ca + Double(y) * sa) / Double(w + h)
                case .stripes: f = 0.85 + 0.15 * (sx[x] * cy[y] + cx[x] * sy[y])
                case .blotches: f = 0.8 + 0.12 * bx[x] * by[y]
                case .grid: f = (x % step < 2 || y % step < 2) ? 0.6 : 0.95
                }
                let i = (y * w + x) * 3
                px[i] = b.0 * f; px[i + 1] = b.1 * f; px[i + 2] = b.2 * f
            }
        }
    }

    static func blob(_ px: inout [Double], _ w: Int, _ h: Int, cx: Double, cy: Double, r: Double,
                     color: (Double, Double, Double)) {
        let x0 = max(0, Int(cx - r)), x1 = min(w - 1, Int(cx + r)), y0 = max(0, Int(cy - r)), y1 = min(h - 1, Int(cy + r))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 where (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy) <= r * r {
                let i = (y * w + x) * 3
                px[i] = color.0; px[i + 1] = color.1; px[i + 2] = color.2
            }
        }
    }

    /// One instance of the class's object.
    static func object(_ s: SynthClassStyle, _ w: Int, _ h: Int, _ px: inout [Double], _ rng: inout SeededRandom) {
        let side = Double(min(w, h))
        let ry = side * s.size * rng.uniform(0.6, 1.3) / 2
        let rx = ry * s.aspect * rng.uniform(0.85, 1.15)
        let cx = rng.uniform(rx * 0.5, Double(w) - rx * 0.5), cy = rng.uniform(ry * 0.5, Double(h) - ry * 0.5)
        let theta = rng.uniform(-0.6, 0.6)
        let (ct, st) = (cos(theta), sin(theta))
        func jitter(_ c: (Double, Double, Double)) -> (Double, Double, Double) {
            let d = rng.uniform(-20, 20)
            return (c.0 + d + rng.uniform(-8, 8), c.1 + d + rng.uniform(-8, 8), c.2 + d + rng.uniform(-8, 8))
        }
        let c0 = jitter(s.palette[0]), c1 = jitter(s.palette[1])
        let reach = max(rx, ry) * 1.5
        let x0 = max(0, Int(cx - reach)), x1 = min(w - 1, Int(cx + reach))
        let y0 = max(0, Int(cy - reach)), y1 = min(h - 1, Int(cy + reach))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 {
                let dx = Double(x) - cx, dy = Double(y) - cy
                let u = (dx * ct + dy * st) / rx, v = (-dx * st + dy * ct) / ry
                guard abs(u) <= 1.2, abs(v) <= 1.2, s.inside(u, v) else { continue }
                let m = s.textureMix(u, v)
                let shade = 1 - 0.25 * (u * 0.5 + v * 0.5)
                let i = (y * w + x) * 3
                px[i] = (c0.0 + (c1.0 - c0.0) * m) * shade
                px[i + 1] = (c0.1 + (c1.1 - c0.1) * m) * shade
                px[i + 2] = (c0.2 + (c1.2 - c0.2) * m) * shade
            }
        }
    }
}
