// PlotsTests: the layout core of the Plots module — nice ticks on many ranges,
// unit formatting, label placement without overlap, Pareto fronts, and the SVG.
import XCTest
@testable import Plots

final class PlotsTests: XCTestCase {
    func testNiceStepsOnManyRanges() {
        let ranges: [(Double, Double)] = [(0.0191, 0.0382), (0, 1), (0, 0.07), (0.31, 0.87), (0, 4.1), (-3, 17),
                                          (1200, 98000), (0.5, 0.5), (0, 0), (1e-5, 3e-5), (0, 0.0955)]
        for (a, b) in ranges {
            let t = NiceTicks(lower: a, upper: b)
            let mantissa = t.step / pow(10, log10(t.step).rounded(.down))
            XCTAssertTrue([1, 2, 2.5, 5].contains { abs($0 - mantissa) < 1e-6 }, "step \(t.step) for \(a)...\(b)")
            XCTAssertLessThanOrEqual(t.lower, a + 1e-12); XCTAssertGreaterThanOrEqual(t.upper, b - 1e-12)
            XCTAssertTrue((3...12).contains(t.values.count), "\(t.values) for \(a)...\(b)")
            for (u, v) in zip(t.values, t.values.dropFirst()) { XCTAssertEqual(v - u, t.step, accuracy: t.step * 1e-6) }
        }
        let t = NiceTicks(lower: 0.0191, upper: 0.0382)
        XCTAssertEqual(t.labels(.gflops), ["0.015 GFLOPs", "0.020 GFLOPs", "0.025 GFLOPs", "0.030 GFLOPs",
                                           "0.035 GFLOPs", "0.040 GFLOPs"])
    }

    func testPercentTicksAreEvenlyValued() {
        let t = NiceTicks(lower: 0, upper: 0.07, target: 5)
        XCTAssertEqual(t.labels(.percent), ["0%", "2%", "4%", "6%", "8%"])
        XCTAssertEqual(NiceTicks(lower: 0.3, upper: 0.9).labels(.percent), ["20%", "40%", "60%", "80%", "100%"])
        XCTAssertEqual(TickUnit.milliseconds.format(12.5, step: 2.5), "12.5 ms")
        XCTAssertEqual(TickUnit.percent.format(0.025, step: 0.025), "2.5%")
    }

    func testEightLabelsAtOnePointDoNotOverlapAndStayInside() {
        let frame = Box(x: 50, y: 30, width: 500, height: 300)
        for (px, py) in [(300.0, 180.0), (545.0, 35.0), (52.0, 328.0)] {
            var placer = LabelPlacer(frame: frame, fontSize: 11, obstacles: [Box(x: px - 5, y: py - 5, width: 10, height: 10)])
            var boxes: [Box] = []
            for k in 0..<8 {
                guard let b = placer.place("S\(k) taylor-fo", px: px, py: py) else { return XCTFail("label \(k) unplaced at \(px),\(py)") }
                boxes.append(b)
            }
            for b in boxes { XCTAssertTrue(frame.contains(b)); XCTAssertFalse(b.overlaps(Box(x: px - 5, y: py - 5, width: 10, height: 10))) }
            for i in boxes.indices { for j in boxes.indices where i < j { XCTAssertFalse(boxes[i].overlaps(boxes[j])) } }
        }
    }

    func testLabelThatCannotFitIsLeftOut() {
        var placer = LabelPlacer(frame: Box(x: 0, y: 0, width: 40, height: 20), fontSize: 12)
        XCTAssertNil(placer.place("a much too long label", px: 20, py: 10))
    }

    func testParetoFrontOnHandValues() {
        let pts: [(x: Double, y: Double)] = [(4, 0.9), (1, 0.5), (2, 0.7), (2, 0.6), (3, 0.65), (1.5, 0.4), (5, 0.85)]
        XCTAssertEqual(ParetoFront.indices(pts), [1, 2, 0])
        let path = ParetoFront.stepPath([(1, 0.5), (2, 0.7)], xEnd: 2)
        XCTAssertEqual(path.map(\.x), [1, 2, 2, 2]); XCTAssertEqual(path.map(\.y), [0.5, 0.5, 0.7, 0.7])
    }

    func testScatterSVGHasLegendLabelsInsideAndNoOverlap() throws {
        var pts = (0..<8).map { PlotPoint(x: 0.0191, y: 0.05 + 0.001 * Double($0), label: "S\($0 % 4 + 1) crit\($0 % 2)",
                                          series: "crit\($0 % 2)", group: "scenario \($0 % 4 + 1)") }
        pts.append(PlotPoint(x: 0.0382, y: 0.07, label: "unpruned", series: "baseline", group: "baseline"))
        var plot = ScatterPlot(title: "rank-1 against GFLOPs", xLabel: "GFLOPs", yLabel: "rank-1", xUnit: .plain,
                               yUnit: .percent, points: pts)
        plot.references = [ReferenceLine(value: 0.07, label: "unpruned")]
        plot.paretoFront = true
        let svg = plot.render()
        XCTAssertTrue(svg.contains("class=\"legend\"")); XCTAssertTrue(svg.contains("class=\"pareto\""))
        XCTAssertFalse(svg.contains("<script")); XCTAssertFalse(svg.contains("http://") && svg.contains("href"))
        let boxes = try Self.labelBoxes(svg)
        XCTAssertGreaterThan(boxes.count, 3)
        for b in boxes { XCTAssertTrue(Box(x: 0, y: 0, width: plot.width, height: plot.height).contains(b)) }
        for i in boxes.indices { for j in boxes.indices where i < j { XCTAssertFalse(boxes[i].overlaps(boxes[j])) } }
    }

    func testCoincidentPointsAreAllVisibleAndNamedTogether() throws {
        // Five points on one pixel, two within a pixel of each other, one alone.
        let centres: [(x: Double, y: Double)] = [(100, 100), (100, 100), (100, 100), (100, 100), (100, 100),
                                                 (300, 50), (300.5, 50.4), (400, 200)]
        XCTAssertEqual(MarkerSpread.clusters(centres, radius: 5), [[0, 1, 2, 3, 4], [5, 6], [7]])
        let drawn = MarkerSpread.positions(centres, r: 5)
        XCTAssertEqual(drawn[7].x, 400); XCTAssertEqual(drawn[7].y, 200)
        for i in drawn.indices {
            for j in drawn.indices where i < j {
                let d = ((drawn[i].x - drawn[j].x) * (drawn[i].x - drawn[j].x) + (drawn[i].y - drawn[j].y) * (drawn[i].y - drawn[j].y)).squareRoot()
                XCTAssertGreaterThanOrEqual(d, 2.4 * 5 - 1e-9, "markers \(i) and \(j) cover each other")
            }
        }
        for i in 0..<5 { XCTAssertLessThan(abs(drawn[i].x - 100) + abs(drawn[i].y - 100), 40, "stays near its place") }
        XCTAssertEqual(MarkerSpread.positions(centres, r: 5).map(\.x), drawn.map(\.x), "deterministic")
        // In the SVG: every marker drawn at its own place, each hover title names all five.
        let pts = (0..<5).map { PlotPoint(x: 0.02, y: 0.5, label: "S\($0) l1", series: "l1", group: "scenario \($0)") }
            + [PlotPoint(x: 0.04, y: 0.7, label: "unpruned", series: "baseline", group: "baseline")]
        let svg = ScatterPlot(title: "t", xLabel: "x", yLabel: "y", xUnit: .gflops, yUnit: .percent, points: pts).render()
        XCTAssertEqual(svg.components(separatedBy: "5 points here: S0 l1").count - 1, 6)  // five markers and the centre dot
        for k in 0..<5 { XCTAssertTrue(svg.contains("S\(k) l1: 0.0200 GFLOPs, 50.0%")) }
        let re = try NSRegularExpression(pattern: "<g><title>[^<]*</title><(circle cx=\"([0-9.]+)\" cy=\"([0-9.]+)\"|polygon points=\"([0-9.]+),([0-9.]+))")
        let places = Set(re.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { m -> String in
            let r = (2...5).map { m.range(at: $0) }.filter { $0.location != NSNotFound }
            return r.map { String(svg[Range($0, in: svg)!]) }.joined(separator: ",")
        })
        XCTAssertEqual(places.count, 6)
    }

    func testRightAxisStepLine() {
        var plot = LinePlot(title: "loss", xLabel: "epoch", yLabel: "loss", yUnit: .plain,
                            series: [.init(name: "loss", points: (0...10).map { (Double($0), 5 - 0.3 * Double($0)) })])
        plot.rightAxis = .init(name: "GFLOPs per image", label: "GFLOPs per image", unit: .plain,
                               steps: [(0, 0.0382), (3, 0.0191), (7, 0.012)], xEnd: 10)
        let r = plot.rightAxis!
        XCTAssertEqual(r.path(r.lines[0]).map(\.x), [0, 3, 3, 7, 7, 10])
        XCTAssertEqual(r.path(r.lines[0]).map(\.y), [0.0382, 0.0382, 0.0191, 0.0191, 0.012, 0.012])
        XCTAssertEqual(plot.rightAxis!.ticks.labels(.plain), ["0.00", "0.01", "0.02", "0.03", "0.04"])
        let svg = plot.render()
        XCTAssertTrue(svg.contains("class=\"right-axis\"")); XCTAssertTrue(svg.contains("class=\"steps\""))
        XCTAssertTrue(svg.contains(">0.04</text>")); XCTAssertTrue(svg.contains("class=\"legend\""))
        // The right axis's labels start right of the plot frame and stay inside the SVG.
        let xs = svg.components(separatedBy: "<g class=\"right-axis\"")[1].components(separatedBy: "</g>")[0]
            .components(separatedBy: "<text x=\"").dropFirst().map { Double($0.prefix { $0 != "\"" })! }
        XCTAssertFalse(xs.isEmpty)
        for x in xs { XCTAssertLessThan(x, plot.width - 100) }
    }

    func testHeatMapLayoutFitsAndDoesNotOverlap() {
        let groups = ["layer1.0.conv1", "layer1.0.conv2", "layer4.2.conv2", "residual stage 3"]
        let cells = groups.indices.map { r in
            (0..<3).map { c -> HeatMap.Cell? in
                if r == 3 && c == 0 { return nil }
                let kept: Int = 512 - 40 * c, before: Int = 512 - 40 * max(0, c - 1)
                let v: Double = 1 - 0.2 * Double(c + r) / 3
                return HeatMap.Cell(value: v, text: "\(kept) / \(before)", title: "t")
            }
        }
        let map = HeatMap(title: "channels kept", rowLabels: groups, columnLabels: ["round 1", "round 2", "round 3"],
                          cells: cells, scaleLabel: "of the start")
        let l = map.layout()
        let all = Box(x: 0, y: 0, width: l.width, height: l.height)
        let flat = l.cells.flatMap { $0 }
        for b in flat + l.rowLabels + l.columnLabels + [l.scale, l.titleBox] { XCTAssertTrue(all.contains(b)) }
        for (r, row) in l.cells.enumerated() {
            for (c, b) in row.enumerated() {
                if let t = cells[r][c]?.text { XCTAssertLessThanOrEqual(Box.textWidth(t, fontSize: map.fontSize), b.width - 6) }
                XCTAssertFalse(b.overlaps(l.rowLabels[r]))
                if c > 0 { XCTAssertEqual(b.x, row[c - 1].maxX, accuracy: 1e-9) }
            }
        }
        let labels = l.rowLabels + l.columnLabels + [l.titleBox, l.scale]
        for i in labels.indices { for j in labels.indices where i < j { XCTAssertFalse(labels[i].overlaps(labels[j])) } }
        for b in labels { for c in flat { XCTAssertFalse(b.overlaps(c)) } }
        let ends = l.rowLabels.map { $0.maxX }
        XCTAssertEqual(ends.max()!, ends.min()!, accuracy: 1e-9, "right-aligned")
        let svg = map.render()
        XCTAssertEqual(svg.components(separatedBy: "class=\"cell\"").count - 1, 11)
        XCTAssertTrue(svg.contains(">432 / 472</text>"))
        XCTAssertNotEqual(HeatMap.shade(0).fill, HeatMap.shade(1).fill)
    }

    static func labelBoxes(_ svg: String) throws -> [Box] {
        let re = try NSRegularExpression(pattern: "data-label-box=\"([^\"]+)\"")
        return re.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { m in
            let v = String(svg[Range(m.range(at: 1), in: svg)!]).split(separator: " ").map { Double($0)! }
            return Box(x: v[0], y: v[1], width: v[2], height: v[3])
        }
    }
}
