// TrainingResize: the training path's resize + flip + normalize of a RandomResizedCrop.
// The same antialiasing triangle filter as Resize.bilinear (Pillow's coefficients), but
// accumulated in float, vectorised, with no rounding to 8 bits between or after the
// passes, and written normalized and mirrored in the last pass. A crop taller than the
// output is shrunk vertically first (only `size` rows go through the horizontal pass,
// whose taps are gathered per pixel); any other is resized horizontally first, as Pillow
// orders it. Within one intensity level of Resize.bilinear then normalize. It keeps its
// scratch memory and filter coefficients between images: one per thread.
import Foundation

public final class TrainingResize {
    public let size: Int
    /// Per channel 1 / (255 std) and -mean / std (the fourth lane unused).
    let scale: SIMD4<Float>, shift: SIMD4<Float>
    private var scratch: UnsafeMutablePointer<Float>
    private var capacity: Int
    private let line: UnsafeMutablePointer<Float>
    /// Float filters by input length (the output length is always `size`).
    private var filters: [Int: Filter] = [:]

    struct Filter {
        var starts: [Int]
        var taps: Int
        /// size x taps weights, zero past a position's own count.
        var weights: [Float]
    }

    public init(size: Int, mean: [Float], std: [Float]) {
        precondition(size > 0 && mean.count == 3 && std.count == 3, "TrainingResize: size \(size)")
        self.size = size
        scale = SIMD4(1 / (255 * std[0]), 1 / (255 * std[1]), 1 / (255 * std[2]), 0)
        shift = SIMD4(-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2], 0)
        capacity = 0
        scratch = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        line = UnsafeMutablePointer<Float>.allocate(capacity: size * 3 + 4)
    }

    public convenience init(_ t: ClassificationTransform) {
        self.init(size: t.size, mean: t.mean, std: t.std)
    }

    deinit {
        scratch.deallocate()
        line.deallocate()
    }

    func filter(input: Int) -> Filter {
        if let f = filters[input] { return f }
        let c = Resize.coefficients(input: input, output: size)
        let unit = 1 / Float(1 << Resize.precisionBits)
        let f = Filter(starts: c.starts, taps: c.size, weights: c.weights.map { Float($0) * unit })
        if filters.count >= 1024 { filters.removeAll(keepingCapacity: true) }
        filters[input] = f
        return f
    }

    private func reserve(_ floats: Int) {
        if floats > capacity {
            scratch.deallocate()
            capacity = max(floats, capacity * 2)
            scratch = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        }
    }

    /// Writes `image` resized to (size, size), normalized, mirrored left-right when `flip`,
    /// as `(size, size, 3)` floats at `out`.
    public func callAsFunction(_ image: RGBImage, flip: Bool, into out: UnsafeMutablePointer<Float>) {
        let (w, h, n) = (image.width, image.height, size)
        let hf = filter(input: w), vf = filter(input: h)
        image.pixels.withUnsafeBufferPointer { p in
            let src = p.baseAddress!
            if h > n {
                // n rows of w pixels (plus one float of padding for four-float loads).
                reserve(n * w * 3 + 4)
                for yy in 0..<n { Self.verticalRow(src, stride: w * 3, rows: h, vf, yy, into: scratch + yy * w * 3) { Float($0) } }
                for y in 0..<n {
                    Self.horizontalRow(scratch + y * w * 3, width: w, hf, into: line)
                    store(line, flip: flip, into: out + y * n * 3)
                }
            } else {
                // h rows of n pixels, resized horizontally from the bytes.
                reserve(h * n * 3 + 4)
                for y in 0..<h { Self.horizontalRow(src + y * w * 3, width: w, lastRow: y == h - 1, hf, into: scratch + y * n * 3) }
                for yy in 0..<n {
                    Self.verticalRow(scratch, stride: n * 3, rows: h, vf, yy, into: line) { $0 }
                    store(line, flip: flip, into: out + yy * n * 3)
                }
            }
        }
    }

    /// One output row of the vertical pass: `filter`'s taps for output row `yy` over rows
    /// of `stride` values (bytes or floats, read as floats by `value`), accumulated into
    /// `stride` floats at `into` (loops the compiler vectorises: tap by tap over the row).
    @inline(__always)
    static func verticalRow<T>(_ src: UnsafePointer<T>, stride: Int, rows: Int, _ f: Filter, _ yy: Int,
                               into o: UnsafeMutablePointer<Float>, _ value: (T) -> Float) {
        let start = f.starts[yy], count = min(f.taps, rows - start)
        f.weights.withUnsafeBufferPointer { wp in
            let k = wp.baseAddress! + yy * f.taps
            let r0 = src + start * stride, k0 = k[0]
            for x in 0..<stride { o[x] = value(r0[x]) * k0 }
            for i in 1..<max(count, 1) where k[i] != 0 {
                let r = src + (start + i) * stride, ki = k[i]
                for x in 0..<stride { o[x] += value(r[x]) * ki }
            }
        }
    }

    /// Runs `body(taps)` with the tap count as a constant the compiler unrolls for the
    /// common counts (2 when enlarging, 3-7 when shrinking up to 3x).
    @inline(__always)
    static func unrolled(_ taps: Int, _ body: (Int) -> Void) {
        switch taps {
        case 1: body(1)
        case 2: body(2)
        case 3: body(3)
        case 4: body(4)
        case 5: body(5)
        case 6: body(6)
        case 7: body(7)
        default: body(taps)
        }
    }

    /// One row of the horizontal pass from floats: `size` pixels at `into` (plus one float
    /// written past them). The row has one readable float past its last pixel.
    @inline(__always)
    static func horizontalRow(_ row: UnsafePointer<Float>, width: Int, _ f: Filter, into o: UnsafeMutablePointer<Float>) {
        f.weights.withUnsafeBufferPointer { wp in
            f.starts.withUnsafeBufferPointer { sp in
                let w = wp.baseAddress!, n = sp.count
                @inline(__always) func pixel(_ xx: Int, _ taps: Int) {
                    let k = w + xx * f.taps, p = row + sp[xx] * 3
                    var acc = UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self) * k[0]
                    for i in 1..<taps { acc += UnsafeRawPointer(p + 3 * i).loadUnaligned(as: SIMD4<Float>.self) * k[i] }
                    UnsafeMutableRawPointer(o + 3 * xx).storeBytes(of: acc, as: SIMD4<Float>.self)
                }
                if width >= f.taps {
                    // Every position reads `taps` pixels inside the row (zero weights past its own).
                    unrolled(f.taps) { taps in for xx in 0..<n { pixel(xx, taps) } }
                } else {
                    for xx in 0..<n { pixel(xx, min(f.taps, width - sp[xx])) }
                }
            }
        }
    }

    /// One row of the horizontal pass from bytes: `size` pixels as floats at `into` (plus
    /// one float written past them). Four-byte loads read one byte past a pixel, so the
    /// image's last row reads its bytes one by one.
    @inline(__always)
    static func horizontalRow(_ row: UnsafePointer<UInt8>, width: Int, lastRow: Bool, _ f: Filter,
                              into o: UnsafeMutablePointer<Float>) {
        f.weights.withUnsafeBufferPointer { wp in
            f.starts.withUnsafeBufferPointer { sp in
                let w = wp.baseAddress!, n = sp.count
                @inline(__always) func load(_ q: UnsafePointer<UInt8>) -> SIMD4<Float> {
                    SIMD4<Float>(SIMD4<Int32>(truncatingIfNeeded: UnsafeRawPointer(q).loadUnaligned(as: SIMD4<UInt8>.self)))
                }
                @inline(__always) func pixel(_ xx: Int, _ taps: Int) {
                    let k = w + xx * f.taps, p = row + sp[xx] * 3
                    var acc = load(p) * k[0]
                    for i in 1..<taps { acc += load(p + 3 * i) * k[i] }
                    UnsafeMutableRawPointer(o + 3 * xx).storeBytes(of: acc, as: SIMD4<Float>.self)
                }
                if width >= f.taps && !lastRow {
                    unrolled(f.taps) { taps in for xx in 0..<n { pixel(xx, taps) } }
                } else {
                    for xx in 0..<n {
                        let start = sp[xx], count = min(f.taps, width - start)
                        var acc = SIMD4<Float>()
                        for i in 0..<count {
                            let q = row + (start + i) * 3
                            acc += SIMD4(Float(q[0]), Float(q[1]), Float(q[2]), 0) * w[xx * f.taps + i]
                        }
                        UnsafeMutableRawPointer(o + 3 * xx).storeBytes(of: acc, as: SIMD4<Float>.self)
                    }
                }
            }
        }
    }

    /// Writes one resized row (`size` pixels) normalized, mirrored when `flip`, with
    /// four-float stores in increasing order (each overwritten by the next pixel) and the
    /// row's last pixel written one value at a time, so nothing past the row is touched.
    @inline(__always)
    func store(_ row: UnsafePointer<Float>, flip: Bool, into o: UnsafeMutablePointer<Float>) {
        let n = size
        for d in 0..<(n - 1) {
            let x = flip ? n - 1 - d : d
            let v = UnsafeRawPointer(row + 3 * x).loadUnaligned(as: SIMD4<Float>.self) * scale + shift
            UnsafeMutableRawPointer(o + 3 * d).storeBytes(of: v, as: SIMD4<Float>.self)
        }
        let x = flip ? 0 : n - 1
        for c in 0..<3 { o[3 * (n - 1) + c] = row[3 * x + c] * scale[c] + shift[c] }
    }
}
