// Resize: bilinear resampling exactly as Pillow's Image.resize(BILINEAR) does it (a
// triangle filter widened by the scale when shrinking, so it antialiases; 22-bit fixed
// point coefficients; horizontal pass to 8 bits, then vertical), which is what
// torchvision's Resize gives a torchreid or fast-reid pipeline.
import Foundation

public enum Resize {
    /// The image resampled to (height, width); returns it unchanged when already that size.
    public static func bilinear(_ image: RGBImage, height: Int, width: Int) -> RGBImage {
        precondition(height > 0 && width > 0, "Resize.bilinear: target \(height)x\(width)")
        if image.width == width && image.height == height { return image }
        var current = image
        if image.width != width { current = horizontal(current, width) }
        if image.height != height { current = vertical(current, height) }
        return current
    }

    static let precisionBits = 22

    /// For each output position: the first input index and fixed-point weights.
    static func coefficients(input: Int, output: Int) -> [(start: Int, weights: [Int32])] {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filterScale
        return (0..<output).map { xx in
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), input) - xmin
            var k = [Double](repeating: 0, count: max(xmax, 0))
            var total = 0.0
            for x in 0..<max(xmax, 0) {
                let t = abs((Double(x + xmin) - center + 0.5) / filterScale)
                k[x] = t < 1 ? 1 - t : 0
                total += k[x]
            }
            let weights = k.map { v -> Int32 in
                let w = total != 0 ? v / total : 0
                let scaled = w * Double(1 << precisionBits)
                return Int32(scaled < 0 ? scaled - 0.5 : scaled + 0.5)
            }
            return (xmin, weights)
        }
    }

    @inline(__always)
    static func clip8(_ v: Int64) -> UInt8 {
        let s = v >> Int64(precisionBits)
        return UInt8(clamping: s)
    }

    static func horizontal(_ image: RGBImage, _ width: Int) -> RGBImage {
        let coeffs = coefficients(input: image.width, output: width)
        var out = [UInt8](repeating: 0, count: width * image.height * 3)
        let half = Int64(1) << Int64(precisionBits - 1)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<image.height {
                    let row = y * image.width * 3
                    for (xx, c) in coeffs.enumerated() {
                        var r = half, g = half, b = half
                        for (i, w) in c.weights.enumerated() {
                            let p = row + (c.start + i) * 3
                            r += Int64(src[p]) * Int64(w)
                            g += Int64(src[p + 1]) * Int64(w)
                            b += Int64(src[p + 2]) * Int64(w)
                        }
                        let o = (y * width + xx) * 3
                        dst[o] = clip8(r)
                        dst[o + 1] = clip8(g)
                        dst[o + 2] = clip8(b)
                    }
                }
            }
        }
        return RGBImage(width: width, height: image.height, pixels: out)
    }

    static func vertical(_ image: RGBImage, _ height: Int) -> RGBImage {
        let coeffs = coefficients(input: image.height, output: height)
        var out = [UInt8](repeating: 0, count: image.width * height * 3)
        let half = Int64(1) << Int64(precisionBits - 1)
        let stride = image.width * 3
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (yy, c) in coeffs.enumerated() {
                    for x in 0..<stride {
                        var s = half
                        for (i, w) in c.weights.enumerated() { s += Int64(src[(c.start + i) * stride + x]) * Int64(w) }
                        dst[yy * stride + x] = clip8(s)
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: height, pixels: out)
    }
}
