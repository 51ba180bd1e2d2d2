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
        if image.width != width {
            current = horizontal(current, rows: 0..<current.height, coefficients: coefficients(input: image.width, output: width))
        }
        if image.height != height { current = vertical(current, coefficients: coefficients(input: image.height, output: height)) }
        return current
    }

    static let precisionBits = 22

    /// Pillow's filter coefficients for resampling `input` samples to `output`: for each
    /// output position the first input index and `size` fixed-point weights (zero-padded
    /// past the position's own count), stored flat.
    struct Coefficients {
        var starts: [Int]
        var size: Int
        /// output x size weights.
        var weights: [Int32]
        var count: Int { starts.count }

        /// Output positions `range` only, starts shifted by `-offset`.
        func slice(_ range: Range<Int>, offset: Int = 0) -> Coefficients {
            Coefficients(starts: starts[range].map { $0 - offset }, size: size,
                         weights: Array(weights[(range.lowerBound * size)..<(range.upperBound * size)]))
        }

        /// The input indices position `range` reads: [first start, last start + size).
        func inputs(_ range: Range<Int>, limit: Int) -> Range<Int> {
            starts[range].min()!..<min(limit, starts[range].max()! + size)
        }
    }

    static func coefficients(input: Int, output: Int) -> Coefficients {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filterScale
        // The most taps any position has (2 when enlarging, about 2 x scale when shrinking).
        var size = 1
        for xx in 0..<output {
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            size = max(size, min(Int(center + support + 0.5), input) - xmin)
        }
        var starts = [Int](repeating: 0, count: output)
        var weights = [Int32](repeating: 0, count: output * size)
        var k = [Double](repeating: 0, count: size)
        for xx in 0..<output {
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let n = max(min(Int(center + support + 0.5), input) - xmin, 0)
            var total = 0.0
            for x in 0..<size { k[x] = 0 }
            for x in 0..<n {
                let t = abs((Double(x + xmin) - center + 0.5) / filterScale)
                k[x] = t < 1 ? 1 - t : 0
                total += k[x]
            }
            // Weights past the input's end stay 0; a start kept within [0, input - size] when
            // possible lets every position read `size` samples.
            var start = xmin
            var shift = 0
            if start + size > input { shift = min(start, start + size - input); start -= shift }
            starts[xx] = start
            for x in 0..<n {
                let w = total != 0 ? k[x] / total : 0
                let scaled = w * Double(1 << precisionBits)
                weights[xx * size + x + shift] = Int32(scaled < 0 ? scaled - 0.5 : scaled + 0.5)
            }
        }
        return Coefficients(starts: starts, size: size, weights: weights)
    }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        UInt8(clamping: v >> Int32(precisionBits))
    }

    /// The horizontal pass over `rows` of `image`: (rows.count, coefficients.count, 3).
    static func horizontal(_ image: RGBImage, rows: Range<Int>, coefficients c: Coefficients) -> RGBImage {
        let width = c.count
        var out = [UInt8](repeating: 0, count: width * rows.count * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                horizontal(src.baseAddress!, inputWidth: image.width, inputRows: image.height, rows: rows, c, into: dst.baseAddress!)
            }
        }
        return RGBImage(width: width, height: rows.count, pixels: out)
    }

    static func horizontal(_ src: UnsafePointer<UInt8>, inputWidth: Int, inputRows: Int, rows: Range<Int>,
                           _ c: Coefficients, into dst: UnsafeMutablePointer<UInt8>) {
        let half = Int32(1) << Int32(precisionBits - 1)
        let width = c.count, size = c.size
        // Every position reads `size` samples inside the row (coefficients keep starts so)
        // unless the row is shorter than that.
        let full = inputWidth >= size
        c.weights.withUnsafeBufferPointer { wp in
            c.starts.withUnsafeBufferPointer { sp in
                let w = wp.baseAddress!
                for (oy, y) in rows.enumerated() {
                    let row = src + y * inputWidth * 3
                    let o = dst + oy * width * 3
                    // Four-byte loads read one byte past a pixel: not on the image's last row.
                    let wide = full && y + 1 < inputRows
                    for xx in 0..<width {
                        let p = row + sp[xx] * 3
                        let k = w + xx * size
                        if wide {
                            @inline(__always) func tap(_ i: Int) -> SIMD4<Int32> {
                                SIMD4<Int32>(truncatingIfNeeded: UnsafeRawPointer(p + 3 * i).loadUnaligned(as: SIMD4<UInt8>.self))
                                    &* SIMD4<Int32>(repeating: k[i])
                            }
                            var acc = SIMD4<Int32>(repeating: half)
                            switch size {
                            case 2: acc &+= tap(0) &+ tap(1)
                            case 3: acc &+= tap(0) &+ tap(1) &+ tap(2)
                            case 4: acc &+= tap(0) &+ tap(1) &+ tap(2) &+ tap(3)
                            default: for i in 0..<size { acc &+= tap(i) }
                            }
                            let v = acc &>> Int32(precisionBits)
                            o[3 * xx] = UInt8(clamping: v[0])
                            o[3 * xx + 1] = UInt8(clamping: v[1])
                            o[3 * xx + 2] = UInt8(clamping: v[2])
                            continue
                        }
                        var r = half, g = half, b = half
                        let n = min(size, inputWidth - sp[xx])
                        var q = p
                        for i in 0..<n {
                            let wi = k[i]
                            r &+= Int32(q[0]) &* wi
                            g &+= Int32(q[1]) &* wi
                            b &+= Int32(q[2]) &* wi
                            q += 3
                        }
                        o[3 * xx] = clip8(r)
                        o[3 * xx + 1] = clip8(g)
                        o[3 * xx + 2] = clip8(b)
                    }
                }
            }
        }
    }

    /// The vertical pass (starts relative to `image`'s rows): (coefficients.count, width, 3).
    static func vertical(_ image: RGBImage, coefficients c: Coefficients) -> RGBImage {
        var out = [UInt8](repeating: 0, count: image.width * c.count * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let d = dst.baseAddress!, stride = image.width * 3
                vertical(src.baseAddress!, width: image.width, inputHeight: image.height, c) { yy, row in
                    (d + yy * stride).update(from: row, count: stride)
                }
            }
        }
        return RGBImage(width: image.width, height: c.count, pixels: out)
    }

    /// The vertical pass, handing each output row (its index and width x 3 bytes) to `store`.
    @inline(__always)
    static func vertical(_ src: UnsafePointer<UInt8>, width: Int, inputHeight: Int, _ c: Coefficients,
                         store: (Int, UnsafePointer<UInt8>) -> Void) {
        let half = Int32(1) << Int32(precisionBits - 1)
        let stride = width * 3, size = c.size
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: stride)
        let line = UnsafeMutablePointer<UInt8>.allocate(capacity: stride)
        defer { acc.deallocate(); line.deallocate() }
        c.weights.withUnsafeBufferPointer { wp in
            for yy in 0..<c.count {
                acc.update(repeating: half, count: stride)
                let start = c.starts[yy]
                let n = min(size, inputHeight - start)
                for i in 0..<n {
                    let wi = wp[yy * size + i]
                    if wi == 0 { continue }
                    let row = src + (start + i) * stride
                    for x in 0..<stride { acc[x] &+= Int32(row[x]) &* wi }
                }
                for x in 0..<stride { line[x] = clip8(acc[x]) }
                store(yy, line)
            }
        }
    }
}
