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

    static func labelBoxes(_ svg: String) throws -> [Box] {
        let re = try NSRegularExpression(pattern: "data-label-box=\"([^\"]+)\"")
        return re.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { m in
            let v = String(svg[Range(m.range(at: 1), in: svg)!]).split(separator: " ").map { Double($0)! }
            return Box(x: v[0], y: v[1], width: v[2], height: v[3])
        }
    }
}
