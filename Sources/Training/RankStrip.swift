// RankStrip: one query's retrieval as a picture — the query image in a grey frame, a
// gap, then its top-k gallery images left to right in green (same person) or red
// frames; every image resized to one cell size. The only text drawn into the picture is
// an optional caption band under it ("SYNTHETIC DATA" for SynthReID pictures), in a
// 5x7 pixel font of the capitals it needs.
import Foundation
import ReIDData

public struct RankStrip: Sendable {
    /// Cell size of every image inside its frame, in pixels.
    public var cellHeight = 128, cellWidth = 64
    public var border = 4, spacing = 4, gap = 16, margin = 6

    public static let queryColor: (UInt8, UInt8, UInt8) = (110, 110, 110)
    public static let hitColor: (UInt8, UInt8, UInt8) = (20, 170, 60)
    public static let missColor: (UInt8, UInt8, UInt8) = (215, 35, 35)

    public init() {}

    /// The framed boxes (x, y, width, height) of the query (index 0) and `k` matches, and the
    /// strip's size.
    public func layout(matches k: Int) -> (boxes: [(x: Int, y: Int, width: Int, height: Int)], width: Int, height: Int) {
        let w = cellWidth + 2 * border, h = cellHeight + 2 * border
        var boxes = [(x: margin, y: margin, width: w, height: h)]
        for i in 0..<k { boxes.append((margin + w + gap + i * (w + spacing), margin, w, h)) }
        return (boxes, (boxes.last.map { $0.x + $0.width } ?? 0) + margin, h + 2 * margin)
    }

    /// The strip of `query` and `matches` (image, same person), frames coloured accordingly:
    /// images of any size -> one RGB image of `layout(matches: k)`'s size,
    /// 2 margin + cellHeight + 2 border high.
    public func render(query: RGBImage, matches: [(image: RGBImage, positive: Bool)]) -> RGBImage {
        let l = layout(matches: matches.count)
        var out = RGBImage(width: l.width, height: l.height, fill: (255, 255, 255))
        let items = [(query, Self.queryColor)] + matches.map { ($0.image, $0.positive ? Self.hitColor : Self.missColor) }
        for (box, (image, color)) in zip(l.boxes, items) {
            fill(&out, x: box.x, y: box.y, width: box.width, height: box.height, color: color)
            paste(&out, Resize.bilinear(image, height: cellHeight, width: cellWidth), x: box.x + border, y: box.y + border)
        }
        return out
    }

    /// `image` with a band under it holding `text` (capitals A-Z and spaces; others are
    /// left blank) in black on pale yellow, 2x-scaled 5x7 glyphs, cut at the right edge.
    public func captioned(_ image: RGBImage, _ text: String) -> RGBImage {
        let scale = 2, pad = 4, band = 7 * scale + 2 * pad
        var out = RGBImage(width: image.width, height: image.height + band, fill: (255, 240, 170))
        paste(&out, image, x: 0, y: 0)
        var x = margin
        for c in text {
            if let rows = Self.glyphs[c] {
                for (r, row) in rows.enumerated() {
                    for (col, bit) in row.enumerated() where bit == "#" {
                        let px = x + col * scale, py = image.height + pad + r * scale
                        guard px + scale <= out.width else { continue }
                        fill(&out, x: px, y: py, width: scale, height: scale, color: (0, 0, 0))
                    }
                }
            }
            x += 6 * scale
        }
        return out
    }

    /// 5x7 glyphs of the letters captions use ("SYNTHETIC DATA").
    static let glyphs: [Character: [String]] = [
        "A": [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
        "C": [".####", "#....", "#....", "#....", "#....", "#....", ".####"],
        "D": ["####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."],
        "E": ["#####", "#....", "#....", "####.", "#....", "#....", "#####"],
        "H": ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
        "I": [".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."],
        "N": ["#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"],
        "S": [".####", "#....", "#....", ".###.", "....#", "....#", "####."],
        "T": ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."],
        "Y": ["#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."],
    ]

    func fill(_ img: inout RGBImage, x: Int, y: Int, width: Int, height: Int, color: (UInt8, UInt8, UInt8)) {
        for yy in y..<(y + height) {
            for xx in x..<(x + width) {
                let i = (yy * img.width + xx) * 3
                img.pixels[i] = color.0; img.pixels[i + 1] = color.1; img.pixels[i + 2] = color.2
            }
        }
    }

    func paste(_ img: inout RGBImage, _ src: RGBImage, x: Int, y: Int) {
        for yy in 0..<src.height {
            let d = ((y + yy) * img.width + x) * 3, s = yy * src.width * 3
            img.pixels.replaceSubrange(d..<(d + src.width * 3), with: src.pixels[s..<(s + src.width * 3)])
        }
    }
}
