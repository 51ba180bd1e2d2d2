// ClassificationTransform: torchvision's ImageNet reference transforms. Training:
// RandomResizedCrop(size, scale, ratio) + horizontal flip + normalize; evaluation:
// Resize(resize) of the shorter side + CenterCrop(size) + normalize, pixel for pixel as
// torchvision computes them on Pillow images (Pillow's bilinear resampling, Python's
// rounding of the crop offsets).
import Foundation
import Tensors

public struct ClassificationTransform: Codable, Hashable, Sendable {
    /// Output side (training crops and evaluation center crops are size x size).
    public var size = 224
    /// Evaluation: the shorter side is resized to this before the center crop.
    public var resize = 256
    /// RandomResizedCrop's area fraction range and aspect ratio (w / h) range.
    public var scale = [0.08, 1.0]
    public var ratio = [3.0 / 4.0, 4.0 / 3.0]
    public var flipProbability = 0.5
    public var mean: [Float] = [0.485, 0.456, 0.406]
    public var std: [Float] = [0.229, 0.224, 0.225]
    /// Training: decode JPEGs at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) when the
    /// crop stays at least `size` on both sides; evaluation always decodes in full.
    public var dctScaling = true

    public init() {}

    public func validate() throws {
        func need(_ ok: Bool, _ key: String) throws { if !ok { throw ImageError("data.transform.\(key): invalid value") } }
        try need(size >= 8 && size <= 4096, "size (8...4096)")
        try need(resize >= size && resize <= 8192, "resize (at least size, at most 8192)")
        try need(scale.count == 2 && scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1, "scale (0 < a <= b <= 1)")
        try need(ratio.count == 2 && ratio[0] >= 0.01 && ratio[0] <= ratio[1] && ratio[1] <= 100,
                 "ratio (0.01 <= a <= b <= 100)")
        try need((0...1).contains(flipProbability), "flip")
        try need(mean.count == 3 && std.count == 3 && std.allSatisfy { $0 > 0 }, "mean/std")
    }

    /// A crop rectangle in image pixels.
    public struct Box: Hashable, Sendable {
        public var x: Int, y: Int, width: Int, height: Int
        public init(x: Int, y: Int, width: Int, height: Int) {
            (self.x, self.y, self.width, self.height) = (x, y, width, height)
        }
    }

    /// RandomResizedCrop.get_params: up to 10 draws of an area fraction in `scale` and a
    /// log-uniform aspect ratio in `ratio`; the first that fits the image wins; otherwise
    /// the whole image clamped to the ratio range, centered.
    public func randomCrop(width: Int, height: Int, rng: inout SeededRandom) -> Box {
        let area = Double(width * height)
        let logRatio = (log(ratio[0]), log(ratio[1]))
        for _ in 0..<10 {
            let target = area * rng.uniform(scale[0], scale[1])
            let aspect = exp(rng.uniform(logRatio.0, logRatio.1))
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && h > 0 && w <= width && h <= height {
                let y = rng.int(height - h + 1), x = rng.int(width - w + 1)
                return Box(x: x, y: y, width: w, height: h)
            }
        }
        let inRatio = Double(width) / Double(height)
        var (w, h) = (width, height)
        if inRatio < ratio[0] {
            h = Int((Double(w) / ratio[0]).rounded(.toNearestOrEven))
        } else if inRatio > ratio[1] {
            w = Int((Double(h) * ratio[1]).rounded(.toNearestOrEven))
        }
        return Box(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
    }

    /// Resize(resize) then CenterCrop(size) of an image of `width` x `height`: the resized
    /// size (shorter side `resize`, longer side truncated as torchvision does) and the crop
    /// box inside it (offsets rounded half to even, as Python's `round`).
    public func evaluationGeometry(width: Int, height: Int) -> (width: Int, height: Int, crop: Box) {
        let (rw, rh): (Int, Int)
        if width <= height {
            (rw, rh) = (resize, Int(Double(resize) * Double(height) / Double(width)))
        } else {
            (rw, rh) = (Int(Double(resize) * Double(width) / Double(height)), resize)
        }
        let top = Int((Double(rh - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(rw - size) / 2).rounded(.toNearestOrEven))
        return (rw, rh, Box(x: left, y: top, width: size, height: size))
    }

    /// The evaluation image, (size, size) RGB bytes before normalization.
    public func evaluationPixels(_ image: RGBImage) -> RGBImage {
        let g = evaluationGeometry(width: image.width, height: image.height)
        return Resize.bilinear(image, height: g.height, width: g.width, window: g.crop)
    }

    /// Writes `image` (size, size) as normalized floats `(size, size, 3)` at `out`,
    /// mirrored left-right when `flip`.
    public func normalize(_ image: RGBImage, flip: Bool, into out: UnsafeMutablePointer<Float>) {
        precondition(image.width == size && image.height == size, "normalize: \(image.width)x\(image.height) image")
        let scale: [Float] = (0..<3).map { 1 / (255 * std[$0]) }
        let shift: [Float] = (0..<3).map { -mean[$0] / std[$0] }
        let (s0, s1, s2, t0, t1, t2) = (scale[0], scale[1], scale[2], shift[0], shift[1], shift[2])
        let n = size
        image.pixels.withUnsafeBufferPointer { p in
            for y in 0..<n {
                for x in 0..<n {
                    let s = (y * n + (flip ? n - 1 - x : x)) * 3, d = (y * n + x) * 3
                    out[d] = Float(p[s]) * s0 + t0
                    out[d + 1] = Float(p[s + 1]) * s1 + t1
                    out[d + 2] = Float(p[s + 2]) * s2 + t2
                }
            }
        }
    }

    /// Resizes `image` to (size, size) and writes it normalized `(size, size, 3)` at `out`,
    /// mirrored left-right when `flip`: the training path's float resampling
    /// (TrainingResize; a decoder keeps one, this makes a new one each call).
    public func resizeNormalize(_ image: RGBImage, flip: Bool, into out: UnsafeMutablePointer<Float>) {
        TrainingResize(self)(image, flip: flip, into: out)
    }
}
