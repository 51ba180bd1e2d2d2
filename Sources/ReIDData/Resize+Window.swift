// Resize+Window: a window of a bilinear resize computed alone: the same pixels as
// resizing the whole image and cropping (Pillow's order: horizontal pass to 8 bits on
// the rows the window needs, then vertical), for Resize(256) + CenterCrop(224).
import Foundation

extension Resize {
    /// The pixels inside `window` of `image` resized to (height, width): (window.height, window.width, 3).
    public static func bilinear(_ image: RGBImage, height: Int, width: Int, window: ClassificationTransform.Box)
        -> RGBImage {
        precondition(window.x >= 0 && window.y >= 0 && window.x + window.width <= width
                     && window.y + window.height <= height, "Resize.bilinear: window outside \(width)x\(height)")
        let ycoeffs = image.height == height ? nil
            : Array(coefficients(input: image.height, output: height)[window.y..<(window.y + window.height)])
        // The input rows the vertical pass reads.
        let rowLo = ycoeffs.map { $0.map(\.start).min()! } ?? window.y
        let rowHi = ycoeffs.map { $0.map { $0.start + $0.weights.count }.max()! } ?? (window.y + window.height)
        // Horizontal pass on rows rowLo..<rowHi, output columns of the window only.
        var rows: RGBImage
        if image.width == width {
            var px = [UInt8](repeating: 0, count: (rowHi - rowLo) * window.width * 3)
            for y in rowLo..<rowHi {
                let s = (y * image.width + window.x) * 3, d = (y - rowLo) * window.width * 3
                for i in 0..<(window.width * 3) { px[d + i] = image.pixels[s + i] }
            }
            rows = RGBImage(width: window.width, height: rowHi - rowLo, pixels: px)
        } else {
            let xc = Array(coefficients(input: image.width, output: width)[window.x..<(window.x + window.width)])
            rows = horizontal(image, rows: rowLo..<rowHi, coefficients: xc)
        }
        guard let ycoeffs else { return rows }
        let shifted = ycoeffs.map { (start: $0.start - rowLo, weights: $0.weights) }
        return vertical(rows, coefficients: shifted)
    }

    /// The horizontal pass over `rows` of `image` with precomputed coefficients.
    static func horizontal(_ image: RGBImage, rows: Range<Int>, coefficients coeffs: [(start: Int, weights: [Int32])])
        -> RGBImage {
        let width = coeffs.count
        var out = [UInt8](repeating: 0, count: width * rows.count * 3)
        let half = Int64(1) << Int64(precisionBits - 1)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (oy, y) in rows.enumerated() {
                    let row = y * image.width * 3
                    for (xx, c) in coeffs.enumerated() {
                        var r = half, g = half, b = half
                        var p = row + c.start * 3
                        for w in c.weights {
                            r += Int64(src[p]) * Int64(w)
                            g += Int64(src[p + 1]) * Int64(w)
                            b += Int64(src[p + 2]) * Int64(w)
                            p += 3
                        }
                        let o = (oy * width + xx) * 3
                        dst[o] = clip8(r)
                        dst[o + 1] = clip8(g)
                        dst[o + 2] = clip8(b)
                    }
                }
            }
        }
        return RGBImage(width: width, height: rows.count, pixels: out)
    }

    /// The vertical pass with precomputed coefficients (starts relative to `image`'s rows).
    static func vertical(_ image: RGBImage, coefficients coeffs: [(start: Int, weights: [Int32])]) -> RGBImage {
        var out = [UInt8](repeating: 0, count: image.width * coeffs.count * 3)
        let half = Int64(1) << Int64(precisionBits - 1)
        let stride = image.width * 3
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (yy, c) in coeffs.enumerated() {
                    for x in 0..<stride {
                        var s = half
                        var p = c.start * stride + x
                        for w in c.weights {
                            s += Int64(src[p]) * Int64(w)
                            p += stride
                        }
                        dst[yy * stride + x] = clip8(s)
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: coeffs.count, pixels: out)
    }
}
