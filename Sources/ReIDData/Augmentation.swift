// Augmentation: the train-time image pipeline of torchreid and fast-reid recipes and
// the test-time one: bilinear resize, random horizontal flip, pad and random crop,
// optional color jitter, ImageNet mean/std normalization and random erasing, writing
// channels-last floats `(H, W, 3)` straight into a batch tensor.
import Foundation
import Tensors

public struct AugmentConfig: Codable, Hashable, Sendable {
    public var height = 256
    public var width = 128
    public var flipProbability = 0.5
    /// Pad each side by this many pixels (zeros) and crop back at a random position; 0 disables.
    public var padding = 10
    /// Random erasing (Zhong et al. 2020): probability, area fraction range, minimum aspect ratio.
    public var erasingProbability = 0.5
    public var erasingArea = [0.02, 0.4]
    public var erasingMinAspect = 0.3
    /// Color jitter strengths (0 disables each): brightness, contrast, saturation factors
    /// drawn from [1 - s, 1 + s].
    public var brightness = 0.0
    public var contrast = 0.0
    public var saturation = 0.0
    public var mean: [Float] = [0.485, 0.456, 0.406]
    public var std: [Float] = [0.229, 0.224, 0.225]

    public init() {}

    /// The test-time pipeline: resize and normalize only.
    public var forTesting: AugmentConfig {
        var c = self
        c.flipProbability = 0
        c.padding = 0
        c.erasingProbability = 0
        c.brightness = 0
        c.contrast = 0
        c.saturation = 0
        return c
    }

    public func validate() throws {
        func need(_ ok: Bool, _ key: String) throws { if !ok { throw ImageError("data.augment.\(key): invalid value") } }
        try need(ImageLimits.accepts(height, minimum: 32) && ImageLimits.accepts(width, minimum: 16),
                 "height/width (at least 32 x 16, at most \(ImageLimits.maxSide))")
        try need((0...1).contains(flipProbability), "flip")
        try need(padding >= 0, "padding")
        try need((0...1).contains(erasingProbability), "erasing")
        try need(erasingArea.count == 2 && erasingArea[0] > 0 && erasingArea[0] <= erasingArea[1] && erasingArea[1] < 1,
                 "erasing_area")
        try need(erasingMinAspect > 0 && erasingMinAspect <= 1, "erasing_min_aspect")
        try need(brightness >= 0 && contrast >= 0 && saturation >= 0, "color jitter")
        try need(mean.count == 3 && std.count == 3 && std.allSatisfy { $0 > 0 }, "mean/std")
    }
}

public enum Augmentation {
    /// Applies the pipeline to `image` and writes (H, W, 3) normalized floats at `out`.
    public static func apply(_ image: RGBImage, config c: AugmentConfig, rng: inout SeededRandom,
                             into out: UnsafeMutablePointer<Float>) {
        var img = Resize.bilinear(image, height: c.height, width: c.width)
        if c.flipProbability > 0 && rng.uniform() < c.flipProbability { img = flipped(img) }
        if c.padding > 0 { img = padCrop(img, padding: c.padding, rng: &rng) }
        let (h, w) = (c.height, c.width)
        var brightness: Float = 1, contrast: Float = 1, saturation: Float = 1
        if c.brightness > 0 { brightness = Float(rng.uniform(1 - c.brightness, 1 + c.brightness)) }
        if c.contrast > 0 { contrast = Float(rng.uniform(1 - c.contrast, 1 + c.contrast)) }
        if c.saturation > 0 { saturation = Float(rng.uniform(1 - c.saturation, 1 + c.saturation)) }
        let jitter = brightness != 1 || contrast != 1 || saturation != 1
        var grayMean: Float = 0
        if jitter && contrast != 1 {
            var s: Float = 0
            for i in 0..<(h * w) { s += gray(img.pixels, i) * brightness }
            grayMean = s / Float(h * w)
        }
        let scale: [Float] = (0..<3).map { 1 / (255 * c.std[$0]) }
        let shift: [Float] = (0..<3).map { -c.mean[$0] / c.std[$0] }
        img.pixels.withUnsafeBufferPointer { p in
            for i in 0..<(h * w) {
                var r = Float(p[3 * i]), g = Float(p[3 * i + 1]), b = Float(p[3 * i + 2])
                if jitter {
                    r *= brightness; g *= brightness; b *= brightness
                    if contrast != 1 {
                        r = (r - grayMean) * contrast + grayMean
                        g = (g - grayMean) * contrast + grayMean
                        b = (b - grayMean) * contrast + grayMean
                    }
                    if saturation != 1 {
                        let y = 0.299 * r + 0.587 * g + 0.114 * b
                        r = (r - y) * saturation + y; g = (g - y) * saturation + y; b = (b - y) * saturation + y
                    }
                    r = min(max(r, 0), 255); g = min(max(g, 0), 255); b = min(max(b, 0), 255)
                }
                out[3 * i] = r * scale[0] + shift[0]
                out[3 * i + 1] = g * scale[1] + shift[1]
                out[3 * i + 2] = b * scale[2] + shift[2]
            }
        }
        if c.erasingProbability > 0 && rng.uniform() < c.erasingProbability {
            erase(out, height: h, width: w, config: c, rng: &rng)
        }
    }

    @inline(__always)
    static func gray(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> Float {
        0.299 * Float(p[3 * i]) + 0.587 * Float(p[3 * i + 1]) + 0.114 * Float(p[3 * i + 2])
    }

    static func gray(_ p: [UInt8], _ i: Int) -> Float {
        0.299 * Float(p[3 * i]) + 0.587 * Float(p[3 * i + 1]) + 0.114 * Float(p[3 * i + 2])
    }

    public static func flipped(_ image: RGBImage) -> RGBImage {
        var out = image.pixels
        let w = image.width
        for y in 0..<image.height {
            for x in 0..<w {
                let s = (y * w + x) * 3, d = (y * w + (w - 1 - x)) * 3
                out[d] = image.pixels[s]; out[d + 1] = image.pixels[s + 1]; out[d + 2] = image.pixels[s + 2]
            }
        }
        return RGBImage(width: w, height: image.height, pixels: out)
    }

    /// Zero-pads by `padding` on every side and crops the original size at a random offset.
    static func padCrop(_ image: RGBImage, padding: Int, rng: inout SeededRandom) -> RGBImage {
        let (w, h) = (image.width, image.height)
        let ox = rng.int(2 * padding + 1) - padding, oy = rng.int(2 * padding + 1) - padding
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let sy = y + oy
            if sy < 0 || sy >= h { continue }
            for x in 0..<w {
                let sx = x + ox
                if sx < 0 || sx >= w { continue }
                let s = (sy * w + sx) * 3, d = (y * w + x) * 3
                out[d] = image.pixels[s]; out[d + 1] = image.pixels[s + 1]; out[d + 2] = image.pixels[s + 2]
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// Random erasing: a rectangle of area fraction in `erasingArea` and aspect ratio in
    /// [minAspect, 1/minAspect] set to 0, the normalized mean; up to 100 tries to fit.
    static func erase(_ out: UnsafeMutablePointer<Float>, height h: Int, width w: Int, config c: AugmentConfig,
                      rng: inout SeededRandom) {
        let area = Double(h * w)
        for _ in 0..<100 {
            let target = area * rng.uniform(c.erasingArea[0], c.erasingArea[1])
            let aspect = rng.uniform(c.erasingMinAspect, 1 / c.erasingMinAspect)
            let eh = Int((target * aspect).squareRoot().rounded()), ew = Int((target / aspect).squareRoot().rounded())
            if eh < 1 || ew < 1 || eh >= h || ew >= w { continue }
            let y0 = rng.int(h - eh + 1), x0 = rng.int(w - ew + 1)
            for y in y0..<(y0 + eh) { (out + (y * w + x0) * 3).update(repeating: 0, count: ew * 3) }
            return
        }
    }
}
