// SynthRenderer: draws one pedestrian crop: the camera's background scene, the person
// seen from the front, the back or a side (a SynthFigure), an optional occluder, then
// the camera's illumination, color cast, contrast, blur, resolution loss and noise.
import Foundation
import Tensors

/// A float RGB canvas, values in [0, 1], rows top to bottom.
struct Canvas {
    let width: Int
    let height: Int
    var data: [Float]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        data = [Float](repeating: 0, count: width * height * 3)
    }

    @inline(__always)
    mutating func set(_ x: Int, _ y: Int, _ c: Color, _ alpha: Double = 1) {
        let i = (y * width + x) * 3
        if alpha >= 1 {
            data[i] = Float(c.r); data[i + 1] = Float(c.g); data[i + 2] = Float(c.b)
        } else {
            let a = Float(alpha)
            data[i] += (Float(c.r) - data[i]) * a
            data[i + 1] += (Float(c.g) - data[i + 1]) * a
            data[i + 2] += (Float(c.b) - data[i + 2]) * a
        }
    }

    /// Fills [x0, x1) x [y0, y1) (clipped) with a color or a color function of (x, y).
    mutating func rect(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ color: (Int, Int) -> Color) {
        let xa = max(0, Int(x0.rounded())), xb = min(width, Int(x1.rounded()))
        let ya = max(0, Int(y0.rounded())), yb = min(height, Int(y1.rounded()))
        guard xa < xb, ya < yb else { return }
        for y in ya..<yb { for x in xa..<xb { set(x, y, color(x, y)) } }
    }

    mutating func rect(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: Color) {
        rect(x0, y0, x1, y1) { _, _ in c }
    }

    /// Fills an ellipse, with soft edges one pixel wide.
    mutating func ellipse(_ cx: Double, _ cy: Double, _ rx: Double, _ ry: Double, _ c: Color,
                          clipY: ClosedRange<Double>? = nil) {
        guard rx > 0, ry > 0 else { return }
        let xa = max(0, Int(cx - rx - 1)), xb = min(width - 1, Int(cx + rx + 1))
        let ya = max(0, Int(cy - ry - 1)), yb = min(height - 1, Int(cy + ry + 1))
        guard xa <= xb, ya <= yb else { return }
        for y in ya...yb {
            let py = Double(y) + 0.5
            if let clipY, !clipY.contains(py) { continue }
            for x in xa...xb {
                let dx = (Double(x) + 0.5 - cx) / rx, dy = (py - cy) / ry
                let d = (dx * dx + dy * dy).squareRoot()
                let edge = (1 - d) * min(rx, ry)
                if edge > 0 { set(x, y, c, min(1, edge + 0.5)) }
            }
        }
    }
}

enum SynthView: Int, CaseIterable { case front, back, left, right }

enum SynthRenderer {
    /// Renders a crop of (height, width) with 8-bit output.
    static func render(person: SynthPerson, camera: CameraStyle, height: Int, width: Int, rng: inout SeededRandom,
                       junk: Bool = false) -> RGBImage {
        var canvas = Canvas(width: width, height: height)
        background(&canvas, camera, &rng)
        let view = SynthView(rawValue: rng.weighted(camera.views))!
        let misalign = camera.misalignment
        var dx = rng.uniform(-misalign, misalign) * Double(width)
        var dy = rng.uniform(-misalign, misalign) * 0.6 * Double(height)
        var scale = rng.uniform(0.92, 1.06)
        if junk {
            // A bad detection: mostly background, a person cut by the box edge or far too small.
            if rng.chance(0.5) { dx = (rng.chance(0.5) ? -1 : 1) * rng.uniform(0.45, 0.6) * Double(width) } else { scale = rng.uniform(0.25, 0.4) }
            dy += rng.uniform(-0.1, 0.1) * Double(height)
        }
        draw(person, view: view, on: &canvas, centerX: Double(width) / 2 + dx, feetY: Double(height) * (0.5 + person.height * scale / 2) + dy,
             size: Double(height) * person.height * scale, rng: &rng)
        if rng.chance(camera.occlusion) { occluder(&canvas, camera, &rng) }
        return develop(canvas, camera, &rng)
    }

    // MARK: scene

    static func background(_ c: inout Canvas, _ cam: CameraStyle, _ rng: inout SeededRandom) {
        let (w, h) = (Double(c.width), Double(c.height))
        let horizon = (cam.horizon + rng.uniform(-0.04, 0.04)) * h
        let shift = rng.uniform(0, 3 * w)
        let tile = rng.uniform(0.12, 0.2) * w
        c.rect(0, 0, w, horizon) { x, y in
            let v = 0.04 * sin(Double(x) * 0.7 + Double(y) * 0.31)
            return cam.wall.scaled(1 + v)
        }
        c.rect(0, horizon, w, h) { x, y in
            let depth = (Double(y) - horizon) / max(h - horizon, 1)
            let line = Int((Double(x) + shift * 0.3) / tile) % 2 == 0 ? 0.03 : -0.03
            return cam.floor.scaled(0.85 + 0.25 * depth + line)
        }
        // Panels (shop fronts, windows, trees) scroll with the person's position in the scene.
        var x = -fmod(shift, w * 0.7)
        var k = 0
        while x < w {
            let pw = w * rng.uniform(0.25, 0.5)
            let top = horizon * rng.uniform(0.05, 0.35), bottom = horizon * rng.uniform(0.75, 1.0)
            let color = cam.panels[(k + Int(shift)) % cam.panels.count]
            c.rect(x, top, x + pw, bottom, color.scaled(rng.uniform(0.85, 1.05)))
            x += pw + w * rng.uniform(0.05, 0.25)
            k += 1
        }
        if cam.lights {
            for _ in 0..<(1 + rng.int(3)) {
                c.ellipse(rng.uniform(0, w), rng.uniform(0, horizon), rng.uniform(2, 6), rng.uniform(2, 6),
                          Color(1, 0.95, 0.8))
            }
        }
    }

    static func occluder(_ c: inout Canvas, _ cam: CameraStyle, _ rng: inout SeededRandom) {
        let (w, h) = (Double(c.width), Double(c.height))
        let color = rng.chance(0.5) ? cam.panels[rng.int(cam.panels.count)].scaled(0.7)
            : SynthPerson.clothing[rng.int(SynthPerson.clothing.count)]
        switch rng.int(3) {
        case 0: c.rect(0, h * rng.uniform(0.6, 0.8), w, h, color)  // a bench, a car, a railing
        case 1: let ow = w * rng.uniform(0.15, 0.35); c.rect(0, 0, ow, h, color)  // a pole or a passer-by
        default: let ow = w * rng.uniform(0.15, 0.35); c.rect(w - ow, 0, w, h, color)
        }
    }

    // MARK: person

    /// Draws `p` seen from `view`, `u` pixels from head to feet, feet at `feetY`.
    static func draw(_ p: SynthPerson, view: SynthView, on c: inout Canvas, centerX cx: Double, feetY: Double,
                     size u: Double, rng: inout SeededRandom) {
        SynthFigure(p, view: view, centerX: cx, feetY: feetY, size: u, rng: &rng).draw(on: &c)
    }

    // MARK: camera

    /// Illumination, color cast and contrast; blur; resolution loss; noise; 8-bit output.
    static func develop(_ c: Canvas, _ cam: CameraStyle, _ rng: inout SeededRandom) -> RGBImage {
        let (w, h) = (c.width, c.height)
        let gain = cam.gain * rng.uniform(0.9, 1.1)
        let cast = [cam.cast.r, cam.cast.g, cam.cast.b]
        var img = c.data
        for i in 0..<(w * h) {
            for k in 0..<3 {
                let v = (Double(img[3 * i + k]) * gain * cast[k] - 0.5) * cam.contrast + 0.5
                img[3 * i + k] = Float(v)
            }
        }
        if cam.blur > 0.05 { img = gaussianBlur(img, w, h, sigma: cam.blur * rng.uniform(0.8, 1.2)) }
        let res = min(1, cam.resolution * rng.uniform(0.9, 1.1))
        if res < 0.95 { img = resample(img, w, h, factor: res) }
        let sigma = Float(cam.noise)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h * 3) {
            let v = img[i] + sigma * Float(rng.normal())
            pixels[i] = UInt8(clamping: Int((min(max(v, 0), 1) * 255).rounded()))
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    static func gaussianBlur(_ src: [Float], _ w: Int, _ h: Int, sigma: Double) -> [Float] {
        let r = max(1, Int((2.5 * sigma).rounded(.up)))
        var k = (-r...r).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let s = k.reduce(0, +)
        k = k.map { $0 / s }
        return pass(pass(src, w, h, k, r, horizontal: true), w, h, k, r, horizontal: false)
    }

    /// One separable pass of `kernel` (radius r) along rows or columns, edges clamped.
    static func pass(_ src: [Float], _ w: Int, _ h: Int, _ kernel: [Float], _ r: Int, horizontal: Bool) -> [Float] {
        var out = src
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<3 {
                    var acc: Float = 0
                    for (j, kv) in kernel.enumerated() {
                        let (xx, yy) = horizontal ? (min(max(x + j - r, 0), w - 1), y) : (x, min(max(y + j - r, 0), h - 1))
                        acc += kv * src[(yy * w + xx) * 3 + ch]
                    }
                    out[(y * w + x) * 3 + ch] = acc
                }
            }
        }
        return out
    }

    /// Box-downsamples by `factor` and bilinearly upsamples back: a sensor that resolves less.
    static func resample(_ src: [Float], _ w: Int, _ h: Int, factor: Double) -> [Float] {
        let sw = max(4, Int(Double(w) * factor)), sh = max(8, Int(Double(h) * factor))
        var small = [Float](repeating: 0, count: sw * sh * 3)
        for y in 0..<sh {
            let y0 = y * h / sh, y1 = max(y0 + 1, (y + 1) * h / sh)
            for x in 0..<sw {
                let x0 = x * w / sw, x1 = max(x0 + 1, (x + 1) * w / sw)
                for ch in 0..<3 {
                    var acc: Float = 0
                    for yy in y0..<y1 { for xx in x0..<x1 { acc += src[(yy * w + xx) * 3 + ch] } }
                    small[(y * sw + x) * 3 + ch] = acc / Float((y1 - y0) * (x1 - x0))
                }
            }
        }
        var out = src
        for y in 0..<h {
            let fy = max(0, (Double(y) + 0.5) * Double(sh) / Double(h) - 0.5)
            let y0 = min(Int(fy), sh - 1), y1 = min(y0 + 1, sh - 1), ty = Float(fy - Double(y0))
            for x in 0..<w {
                let fx = max(0, (Double(x) + 0.5) * Double(sw) / Double(w) - 0.5)
                let x0 = min(Int(fx), sw - 1), x1 = min(x0 + 1, sw - 1), tx = Float(fx - Double(x0))
                for ch in 0..<3 {
                    let a = small[(y0 * sw + x0) * 3 + ch], b = small[(y0 * sw + x1) * 3 + ch]
                    let c = small[(y1 * sw + x0) * 3 + ch], d = small[(y1 * sw + x1) * 3 + ch]
                    out[(y * w + x) * 3 + ch] = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty
                }
            }
        }
        return out
    }
}
