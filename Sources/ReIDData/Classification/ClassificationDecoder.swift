// ClassificationDecoder: turns image bytes into the network's input for the
// classification transforms. Training decodes only the random crop's rows and columns
// (jpeglib's jpeg_skip_scanlines and jpeg_crop_scanline) and at 1/2, 1/4 or 1/8 scale when
// the crop is at least that many times the output size; evaluation decodes in full, as
// torchvision does. One decoder per thread.
import CJPEGLib
import Foundation
import Tensors

public final class ClassificationDecoder {
    public let codec: ImageCodec
    public let transform: ClassificationTransform

    public init(transform: ClassificationTransform, maxImagePixels: Int = ImageCodec.defaultMaxImagePixels) {
        self.transform = transform
        codec = ImageCodec(maxImagePixels: maxImagePixels)
    }

    static func isJPEG(_ data: Data) -> Bool {
        data.count >= 3 && data[data.startIndex] == 0xFF && data[data.startIndex + 1] == 0xD8
    }

    /// The largest DCT scale divisor (1, 2, 4, 8) that keeps `box` at least `size` on both sides.
    static func scaleDivisor(_ box: ClassificationTransform.Box, size: Int) -> Int {
        for d in [8, 4, 2] where box.width / d >= size && box.height / d >= size { return d }
        return 1
    }

    /// The training crop before resizing (the random box's pixels, or at DCT scale the
    /// pixels covering it) and the flip draw. Draws from `rng`: the crop
    /// (RandomResizedCrop), then the flip.
    func trainingCrop(_ data: Data, name: String, rng: inout SeededRandom) throws -> (crop: RGBImage, flip: Bool) {
        let t = transform
        let crop: RGBImage
        if Self.isJPEG(data) {
            var header = reidprune_jpeg_result()
            let ok = data.withUnsafeBytes { reidprune_jpeg_header($0.bindMemory(to: UInt8.self).baseAddress, data.count, &header) }
            guard ok == 0, header.width > 0, header.height > 0 else {
                throw ImageError("\(name): corrupt JPEG header: \(Self.message(&header))")
            }
            let (w, h) = (Int(header.width), Int(header.height))
            try codec.checkSize(width: w, height: h, path: name)
            let box = t.randomCrop(width: w, height: h, rng: &rng)
            crop = try decodeRegion(data, name: name, box: box, divisor: t.dctScaling ? Self.scaleDivisor(box, size: t.size) : 1,
                                    imageSize: (w, h))
        } else {
            let image = try codec.decode(data, path: name)
            let box = t.randomCrop(width: image.width, height: image.height, rng: &rng)
            crop = Self.crop(image, box)
        }
        let flip = t.flipProbability > 0 && rng.uniform() < t.flipProbability
        return (crop, flip)
    }

    /// The training sample: a random resized crop (size, size) and its flip draw (not applied).
    public func training(_ data: Data, name: String, rng: inout SeededRandom) throws -> (image: RGBImage, flip: Bool) {
        let (crop, flip) = try trainingCrop(data, name: name, rng: &rng)
        return (Resize.bilinear(crop, height: transform.size, width: transform.size), flip)
    }

    /// The training sample written as normalized floats (size, size, 3) at `out`: the same
    /// pixels as `training` then `normalize`, with resizing, flip and normalization in one pass.
    public func training(_ data: Data, name: String, rng: inout SeededRandom, into out: UnsafeMutablePointer<Float>) throws {
        let (crop, flip) = try trainingCrop(data, name: name, rng: &rng)
        transform.resizeNormalize(crop, flip: flip, into: out)
    }

    /// The evaluation sample (size, size): full decode, Resize(resize), CenterCrop(size).
    public func evaluation(_ data: Data, name: String) throws -> RGBImage {
        transform.evaluationPixels(try codec.decode(data, path: name))
    }

    /// `box` of a JPEG, decoded at 1/divisor scale: the box's pixels at full scale when
    /// divisor is 1, otherwise the scaled image's pixels covering the box (rounded outwards).
    /// `imageSize`: the JPEG's (width, height) when the caller has read the header already.
    /// Returns (h, w, 3) RGB, where (w, h) is the box's size at full scale, or its covering
    /// at 1/divisor scale.
    public func decodeRegion(_ data: Data, name: String, box: ClassificationTransform.Box, divisor: Int,
                             imageSize: (Int, Int)? = nil) throws -> RGBImage {
        var result = reidprune_jpeg_result()
        var size = imageSize ?? (0, 0)
        if imageSize == nil {
            let ok = data.withUnsafeBytes { reidprune_jpeg_header($0.bindMemory(to: UInt8.self).baseAddress, data.count, &result) }
            guard ok == 0 else { throw ImageError("\(name): corrupt JPEG header: \(Self.message(&result))") }
            size = (Int(result.width), Int(result.height))
        }
        precondition([1, 2, 4, 8].contains(divisor) && box.x >= 0 && box.y >= 0 && box.width > 0 && box.height > 0
                     && box.x + box.width <= size.0 && box.y + box.height <= size.1,
                     "decodeRegion: box \(box) outside the \(size.0)x\(size.1) image or divisor \(divisor)")
        let (sw, sh) = ((size.0 + divisor - 1) / divisor, (size.1 + divisor - 1) / divisor)
        let x0 = box.x / divisor, y0 = box.y / divisor
        let x1 = min(sw, (box.x + box.width + divisor - 1) / divisor), y1 = min(sh, (box.y + box.height + divisor - 1) / divisor)
        let (w, h) = (x1 - x0, y1 - y0)
        var out = [UInt8](repeating: 0, count: w * h * 4)
        let status = data.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { o in
                reidprune_jpeg_decode_region(raw.bindMemory(to: UInt8.self).baseAddress, data.count, Int32(divisor),
                                             Int32(x0), Int32(y0), Int32(w), Int32(h), o.baseAddress, &result)
            }
        }
        let message = Self.message(&result)
        guard status == 0 else { throw ImageError("\(name): corrupt JPEG data: \(message)") }
        if result.warnings > 0 && !ImageCodec.harmlessWarnings.contains(where: message.contains) {
            throw ImageError("\(name): corrupt JPEG, part of the image is lost (\(message))")
        }
        if result.cmyk != 0 {
            return RGBImage(width: w, height: h, pixels: ImageCodec.rgb(fromAdobeCMYK: out))
        }
        out.removeLast(w * h)
        return RGBImage(width: w, height: h, pixels: out)
    }

    static func message(_ r: inout reidprune_jpeg_result) -> String {
        withUnsafeBytes(of: &r.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The pixels of `box` inside `image`.
    public static func crop(_ image: RGBImage, _ box: ClassificationTransform.Box) -> RGBImage {
        if box.x == 0 && box.y == 0 && box.width == image.width && box.height == image.height { return image }
        var px = [UInt8](repeating: 0, count: box.width * box.height * 3)
        image.pixels.withUnsafeBufferPointer { src in
            px.withUnsafeMutableBufferPointer { dst in
                for y in 0..<box.height {
                    let s = ((box.y + y) * image.width + box.x) * 3
                    (dst.baseAddress! + y * box.width * 3).update(from: src.baseAddress! + s, count: box.width * 3)
                }
            }
        }
        return RGBImage(width: box.width, height: box.height, pixels: px)
    }
}
