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
        let rowsOut = window.y..<(window.y + window.height), colsOut = window.x..<(window.x + window.width)
        let ycoeffs = image.height == height ? nil : coefficients(input: image.height, output: height)
        // The input rows the vertical pass reads.
        let rows = ycoeffs.map { $0.inputs(rowsOut, limit: image.height) } ?? rowsOut
        // Horizontal pass on those rows, output columns of the window only.
        var band: RGBImage
        if image.width == width {
            var px = [UInt8](repeating: 0, count: rows.count * window.width * 3)
            for (i, y) in rows.enumerated() {
                let s = (y * image.width + window.x) * 3, d = i * window.width * 3
                px.replaceSubrange(d..<(d + window.width * 3), with: image.pixels[s..<(s + window.width * 3)])
            }
            band = RGBImage(width: window.width, height: rows.count, pixels: px)
        } else {
            band = horizontal(image, rows: rows, coefficients: coefficients(input: image.width, output: width).slice(colsOut))
        }
        guard let ycoeffs else { return band }
        return vertical(band, coefficients: ycoeffs.slice(rowsOut, offset: rows.lowerBound))
    }
}
