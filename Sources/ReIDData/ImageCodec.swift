// ImageCodec: JPEG decoding and encoding with libjpeg-turbo (accurate integer DCT and
// fancy upsampling, the settings Pillow decodes with, so pixels equal Pillow's) and PNG
// decoding and encoding with libpng. Images larger than a pixel limit are refused from
// their header, before any pixel buffer exists. One codec per thread: TurboJPEG handles
// are not shared between threads.
import CPNG
import CTurboJPEG
import Foundation
import Tensors

public final class ImageCodec {
    /// Pillow's limit: it raises DecompressionBombError above 2 x Image.MAX_IMAGE_PIXELS.
    public static let defaultMaxImagePixels = 178_956_970

    /// Images whose header claims more pixels (width x height) are refused.
    public let maxImagePixels: Int
    private let decoder: tjhandle
    private let encoder: tjhandle

    public init(maxImagePixels: Int = ImageCodec.defaultMaxImagePixels) {
        self.maxImagePixels = maxImagePixels
        decoder = tjInitDecompress()
        encoder = tjInitCompress()
    }

    deinit {
        tjDestroy(decoder)
        tjDestroy(encoder)
    }

    /// Reads and decodes a JPEG or PNG file; errors name the path.
    public func decode(path: String) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ImageError("\(path): cannot read: \(FileProblem.reading(path) ?? FileProblem.reason(error))")
        }
        return try decode(data, path: path)
    }

    /// Decodes JPEG or PNG bytes (recognized by their signature).
    public func decode(_ data: Data, path: String = "<memory>") throws -> RGBImage {
        if Self.isJPEG(data) { return try decodeJPEG(data, path: path) }
        if Self.isPNG(data) { return try decodePNG(data, path: path) }
        throw Self.unknownSignature(path, count: data.count)
    }

    static func unknownSignature(_ path: String, count: Int) -> ImageError {
        ImageError("\(path): not a JPEG or PNG image (\(count) bytes, unknown signature)")
    }

    /// A JPEG's size and color space from its header, checked against the pixel limit.
    private func jpegHeader(_ b: UnsafeBufferPointer<UInt8>, path: String) throws -> (width: Int32, height: Int32, space: Int32) {
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, space: Int32 = 0
        guard tjDecompressHeader3(decoder, b.baseAddress, UInt(b.count), &w, &h, &sub, &space) == 0, w > 0, h > 0 else {
            throw ImageError("\(path): corrupt JPEG header: \(tjError(decoder))")
        }
        try checkSize(width: Int(w), height: Int(h), path: path)
        return (w, h, space)
    }

    static func isJPEG<C: Collection<UInt8>>(_ b: C) -> Bool { b.count >= 3 && b.starts(with: [0xFF, 0xD8]) }
    static func isPNG<C: Collection<UInt8>>(_ b: C) -> Bool { b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) }

    /// Checks without decoding the pixels that `data` is a JPEG or PNG whose header is
    /// readable and within the pixel limit and whose stream reaches its end (a JPEG's EOI
    /// marker, a PNG's IEND chunk): what a copy of the file (a shard) can check cheaply.
    /// Damage inside the compressed data shows only when the image is decoded.
    public func checkWhole(_ data: Data, path: String) throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            if Self.isJPEG(b) {
                _ = try jpegHeader(b, path: path)
                guard Self.reachesEndOfImage(b) else {
                    throw ImageError("\(path): truncated JPEG (\(b.count) bytes): the data ends before the image does")
                }
            } else if Self.isPNG(b) {
                // IHDR first (length 13), its width and height big-endian at bytes 16 and 20,
                // each 1 to 2^31 - 1 (the PNG limit).
                func u32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
                guard b.count >= 33, u32(8) == 13, Array(b[12..<16]) == Array("IHDR".utf8) else {
                    throw ImageError("\(path): corrupt PNG: no IHDR chunk")
                }
                let (width, height) = (u32(16), u32(20))
                guard (1...0x7FFF_FFFF).contains(width), (1...0x7FFF_FFFF).contains(height) else {
                    throw ImageError("\(path): corrupt PNG header: \(width)x\(height) pixels")
                }
                try checkSize(width: width, height: height, path: path)
                // Chunks: length, type, data, CRC; the stream is whole once IEND is reached.
                var i = 8
                while i + 8 <= b.count && Array(b[(i + 4)..<(i + 8)]) != Array("IEND".utf8) { i += 12 + u32(i) }
                guard i + 12 <= b.count else {
                    throw ImageError("\(path): truncated PNG (\(b.count) bytes): the data ends before its IEND chunk")
                }
            } else {
                throw Self.unknownSignature(path, count: b.count)
            }
        }
    }

    private func tjError(_ handle: tjhandle) -> String {
        String(cString: tjGetErrorStr2(handle))
    }

    /// Refuses an image of `width` x `height` pixels above the limit; called with the
    /// header's size, before the pixel buffer is allocated.
    func checkSize(width: Int, height: Int, path: String) throws {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxImagePixels else {
            throw ImageError("\(path): the header claims \(width)x\(height) pixels\(overflow ? "" : " (\(pixels))"), above the limit "
                             + "of \(maxImagePixels) pixels (data.max_image_pixels); refused before decoding "
                             + "(a decompression bomb or a corrupt header)")
        }
    }

    /// Decodes to RGB: YCbCr, RGB and grayscale JPEGs through libjpeg, CMYK and YCCK ones to
    /// CMYK and then to RGB as Pillow converts them. Errors: a stream that ends before its
    /// EOI marker (Pillow: "image file is truncated"), and a libjpeg warning that loses
    /// pixels (a scan's data ending early, a bad Huffman code: libjpeg would fill them with
    /// grey, and Pillow accepts that). Warnings that leave every pixel as encoded are ignored.
    func decodeJPEG(_ data: Data, path: String) throws -> RGBImage {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> RGBImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            let (w, h, space) = try jpegHeader(bytes, path: path)
            let (width, height) = (Int(w), Int(h))
            let cmyk = space == Int32(TJCS_CMYK.rawValue) || space == Int32(TJCS_YCCK.rawValue)
            var pixels = [UInt8](repeating: 0, count: width * height * (cmyk ? 4 : 3))
            let format = cmyk ? TJPF_CMYK : TJPF_RGB
            // TJFLAG_LIMITSCANS: a progressive JPEG of more than 500 scans is an error, not minutes of work.
            let status = tjDecompress2(decoder, bytes.baseAddress, UInt(data.count), &pixels, w, 0, h,
                                       Int32(format.rawValue), TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS)
            if status != 0 {
                // libjpeg reports the first warning only; the end of the stream is checked as well.
                let message = tjError(decoder)
                guard tjGetErrorCode(decoder) == Int32(TJERR_WARNING.rawValue) else {
                    throw ImageError("\(path): corrupt JPEG data: \(message)")
                }
                if message.contains("Premature end of JPEG file") || !Self.reachesEndOfImage(bytes) {
                    throw ImageError("\(path): truncated JPEG (\(data.count) bytes): the data ends before the image "
                                     + "does (\(message))")
                }
                guard Self.harmlessWarnings.contains(where: message.contains) else {
                    throw ImageError("\(path): corrupt JPEG, part of the image is lost (\(message))")
                }
            }
            return RGBImage(width: width, height: height, pixels: cmyk ? Self.rgb(fromAdobeCMYK: pixels) : pixels)
        }
    }

    /// libjpeg warnings after which every pixel is still as encoded (stray bytes outside the
    /// scans, metadata it cannot read).
    static let harmlessWarnings = [
        "extraneous bytes before marker", "bad ICC marker", "unknown JFIF revision",
        "Unknown Adobe color transform", "Invalid SOS parameters for sequential JPEG",
    ]

    /// Whether a JPEG stream reaches its EOI marker. Walks the marker segments by their
    /// lengths; between them (entropy-coded data) 0xFF is only followed by 0x00 stuffing, a
    /// restart marker or the next segment.
    static func reachesEndOfImage(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 2  // past SOI
        while i + 1 < b.count {
            let marker = b[i + 1]
            if b[i] != 0xFF || marker == 0xFF {
                i += 1
            } else if marker == 0xD9 {
                return true
            } else if marker == 0x00 || marker == 0x01 || (0xD0...0xD7).contains(marker) {
                i += 2  // stuffing, TEM, RSTn: no length
            } else {
                guard i + 3 < b.count else { return false }
                i += 2 + (Int(b[i + 2]) << 8 | Int(b[i + 3]))
            }
        }
        return false
    }

    /// cmyk: (H, W, 4) as libjpeg gives a CMYK or YCCK JPEG -> (H, W, 3) RGB, as Pillow's
    /// `convert("RGB")` gives it: the stored values are Adobe-inverted (Pillow reads every
    /// CMYK JPEG as "CMYK;I": c = 255 - stored, likewise m, y, k), then each channel is
    /// (255 - k) - (255 - k) * c / 255, with Pillow's rounding of the product (MULDIV255).
    static func rgb(fromAdobeCMYK cmyk: [UInt8]) -> [UInt8] {
        let n = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: n * 3)
        cmyk.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    let notK = Int(src[4 * i + 3])
                    for c in 0..<3 {
                        let t = (255 - Int(src[4 * i + c])) * notK + 128
                        dst[3 * i + c] = UInt8(clamping: notK - (((t >> 8) + t) >> 8))
                    }
                }
            }
        }
        return rgb
    }

    func decodePNG(_ data: Data, path: String) throws -> RGBImage {
        var image = png_image()
        image.version = reidprune_png_image_version()
        let ok = data.withUnsafeBytes { raw in
            png_image_begin_read_from_memory(&image, raw.baseAddress, data.count)
        }
        guard ok != 0 else { throw ImageError("\(path): corrupt PNG: \(PNGMessage(image))") }
        do {
            try checkSize(width: Int(image.width), height: Int(image.height), path: path)
        } catch {
            png_image_free(&image)
            throw error
        }
        image.format = UInt32(reidprune_png_format_rgb())
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * 3)
        let done = data.withUnsafeBytes { _ in
            png_image_finish_read(&image, nil, &pixels, 0, nil)
        }
        guard done != 0 else {
            png_image_free(&image)
            throw ImageError("\(path): corrupt PNG data: \(PNGMessage(image))")
        }
        return RGBImage(width: Int(image.width), height: Int(image.height), pixels: pixels)
    }

    /// JPEG bytes at `quality` (1-100), 4:2:0 chroma subsampling as cameras store them.
    public func encodeJPEG(_ image: RGBImage, quality: Int) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { p in
            tjCompress2(encoder, p.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &out, &size, Int32(TJSAMP_420.rawValue), Int32(min(max(quality, 1), 100)), TJFLAG_ACCURATEDCT)
        }
        defer { tjFree(out) }
        guard status == 0, let out else { throw ImageError("JPEG encoding failed: \(tjError(encoder))") }
        return Data(bytes: out, count: Int(size))
    }

    /// PNG bytes of an RGB image.
    public func encodePNG(_ image: RGBImage) throws -> Data {
        var png = png_image()
        png.version = reidprune_png_image_version()
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(reidprune_png_format_rgb())
        var size = 0
        guard png_image_write_to_memory(&png, nil, &size, 0, image.pixels, 0, nil) != 0 else {
            throw ImageError("PNG encoding failed: \(PNGMessage(png))")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        guard png_image_write_to_memory(&png, &bytes, &size, 0, image.pixels, 0, nil) != 0 else {
            throw ImageError("PNG encoding failed: \(PNGMessage(png))")
        }
        return Data(bytes.prefix(size))
    }
}

/// libpng's message for a failed simplified-API call.
private func PNGMessage(_ image: png_image) -> String {
    var copy = image
    return withUnsafeBytes(of: &copy.message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}
