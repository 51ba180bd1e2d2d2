// Loss values on hand-computed cases and gradients against finite differences:
// label-smoothed cross-entropy, batch-hard triplet (hinge and soft margin),
// contrastive pairs and center loss; batches a loss cannot use (NaN features, one
// identity, no pair) are thrown errors, never a trap.
import Foundation
import NN
import Tensors
import TestSupport
import XCTest

final class LossTests: XCTestCase {
    func testCrossEntropyHandComputed() {
        // Two classes, logits [0, ln 3]: softmax [1/4, 3/4]; label 1, eps 0.1:
        // targets [0.05, 0.95]; loss = -(0.05 ln 0.25 + 0.95 ln 0.75).
        let logits = Tensor(shape: [1, 2], layout: .nc, values: [0, Float(log(3.0))])
        let g = Tensor(shape: [1, 2], layout: .nc)
        let loss = CrossEntropyLoss(epsilon: 0.1)(logits: logits, labels: [1], gradient: g)
        XCTAssertEqual(loss, -(0.05 * log(0.25) + 0.95 * log(0.75)), accuracy: 1e-6)
        assertClose(g, [0.25 - 0.05, 0.75 - 0.95], rtol: 1e-5)
    }

    func testTripletHandComputed() throws {
        // Points on a line: ids 0,0,1,1 at 0, 1, 3, 5. Anchor 0: ap 1, an 3 -> max(0, 1 - 3 + 0.3) = 0.
        // Anchor 1: ap 1, an 2 -> 0; anchor 2: ap 2, an 2 -> 0.3; anchor 3: ap 2, an 4 -> 0. Mean 0.075.
        let f = Tensor(shape: [4, 1], layout: .nc, values: [0, 1, 3, 5])
        let (loss, accuracy) = try TripletLoss(margin: 0.3)(features: f, labels: [0, 0, 1, 1], gradient: nil)
        XCTAssertEqual(loss, 0.075, accuracy: 1e-6)
        XCTAssertEqual(accuracy, 0.75)
    }

    func testLossGradientsMatchFiniteDifferences() throws {
        var rng = SeededRandom(seed: 61)
        let (n, d, k) = (8, 5, 4)
        let labels = [0, 0, 1, 1, 2, 2, 3, 3]
        let x = rng.array(n * d)
        func tensor(_ v: [Float]) -> Tensor { Tensor(shape: [n, d], layout: .nc, values: v) }
        let g = Tensor(shape: [n, d], layout: .nc)

        for soft in [false, true] {
            let loss = TripletLoss(margin: 0.3, softMargin: soft)
            _ = try loss(features: tensor(x), labels: labels, gradient: g)
            try checkGradient("triplet soft=\(soft)", at: x, analytic: g.toArray(), step: 1e-3) {
                try loss(features: tensor($0), labels: labels, gradient: nil).loss
            }
        }
        let contrastive = ContrastiveLoss(margin: 2)
        _ = try contrastive(features: tensor(x), labels: labels, gradient: g)
        try checkGradient("contrastive", at: x, analytic: g.toArray(), step: 1e-3) {
            try contrastive(features: tensor($0), labels: labels, gradient: nil)
        }
        let center = CenterLoss(numClasses: k, dim: d, seed: 3)
        _ = try center(features: tensor(x), labels: labels, gradient: g)
        try checkGradient("center", at: x, analytic: g.toArray(), step: 1e-3) {
            try center(features: tensor($0), labels: labels, gradient: nil)
        }
        let logits = rng.array(n * k)
        let ce = CrossEntropyLoss()
        let gl = Tensor(shape: [n, k], layout: .nc)
        _ = ce(logits: Tensor(shape: [n, k], layout: .nc, values: logits), labels: labels, gradient: gl)
        checkGradient("cross-entropy", at: logits, analytic: gl.toArray(), step: 1e-3) {
            ce(logits: Tensor(shape: [n, k], layout: .nc, values: $0), labels: labels, gradient: nil)
        }
    }

    /// The error `body` throws, as a LossError.
    func lossError(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> LossError? {
        do {
            _ = try body()
            XCTFail("no error", file: file, line: line)
        } catch let error as LossError {
            return error
        } catch {
            XCTFail("not a LossError: \(error)", file: file, line: line)
        }
        return nil
    }

    func testNaNFeaturesThrowInsteadOfTrapping() throws {
        // Four identities (as in the reported batch): NaN distances used to leave every anchor without a negative.
        var rng = SeededRandom(seed: 5)
        var values = rng.array(8 * 3)
        values[4] = .nan
        let f = Tensor(shape: [8, 3], layout: .nc, values: values)
        let labels = [0, 0, 1, 1, 2, 2, 3, 3]
        let g = Tensor(shape: [8, 3], layout: .nc)
        for soft in [false, true] {
            let e = lossError { try TripletLoss(margin: 0.3, softMargin: soft)(features: f, labels: labels, gradient: g) }
            XCTAssertEqual(e?.kind, .nonFinite)
            XCTAssertTrue(e?.description.hasPrefix("TripletLoss: the distance between samples") ?? false, "\(String(describing: e))")
        }
        values[4] = .infinity
        let inf = Tensor(shape: [8, 3], layout: .nc, values: values)
        XCTAssertEqual(lossError { try TripletLoss()(features: inf, labels: labels, gradient: nil) }?.kind, .nonFinite)
        XCTAssertEqual(lossError { try ContrastiveLoss()(features: f, labels: labels, gradient: g) }?.kind, .nonFinite)
        XCTAssertEqual(lossError { try CenterLoss(numClasses: 4, dim: 3)(features: f, labels: labels, gradient: g) }?.kind,
                       .nonFinite)
        // Cross-entropy is computed per rank before the sum over ranks: NaN flows into the value.
        let logits = Tensor(shape: [2, 2], layout: .nc, values: [0, .nan, 1, 2])
        XCTAssertTrue(CrossEntropyLoss()(logits: logits, labels: [0, 1], gradient: nil).isNaN)
    }

    func testBatchesWithoutTripletsOrPairsThrow() {
        let f = Tensor(shape: [4, 2], layout: .nc, values: [0, 1, 2, 3, 4, 5, 6, 7])
        let one = lossError { try TripletLoss()(features: f, labels: [3, 3, 3, 3], gradient: nil) }
        XCTAssertEqual(one?.kind, .invalidBatch)
        XCTAssertEqual(one?.description, "TripletLoss: the batch of 4 sample(s) holds identity 3 only; a triplet needs two identities")
        let single = Tensor(shape: [1, 2], layout: .nc, values: [0, 1])
        XCTAssertEqual(lossError { try ContrastiveLoss()(features: single, labels: [0], gradient: nil) }?.kind, .invalidBatch)
    }
}
