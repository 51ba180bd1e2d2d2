// Batch normalization training and inference forward, backward (with and without the
// fused ReLU) and the running-statistics update against the reference and finite
// differences.
import Tensors
import TestSupport
import XCTest

final class BatchNormTests: XCTestCase {
    static let geometries: [BatchNormGeometry] = [
        BatchNormGeometry(batch: 2, height: 3, width: 5, channels: 7),
        BatchNormGeometry(batch: 1, height: 4, width: 4, channels: 16, fuseReLU: true),
        BatchNormGeometry(batch: 3, height: 5, width: 3, channels: 33, epsilon: 1e-3),
        BatchNormGeometry(batch: 4, height: 1, width: 1, channels: 9, fuseReLU: true),
        BatchNormGeometry(batch: 8, height: 8, width: 4, channels: 16, fuseReLU: true),
    ]

    func testTrainingForwardMatchesReference() {
        var rng = SeededRandom(seed: 11)
        for g in Self.geometries {
            let x = rng.tensor(g.shape, .nhwc, -2, 3)
            let gamma = rng.tensor([g.channels], .x, 0.5, 1.5), beta = rng.tensor([g.channels], .x)
            let y = Tensor(shape: g.shape, layout: .nhwc)
            let mean = Tensor(shape: [g.channels], layout: .x), variance = Tensor(shape: [g.channels], layout: .x)
            BatchNorm.forwardTraining(g, x: x, gamma: gamma, beta: beta, y: y, mean: mean, variance: variance,
                                      workspace: BatchNorm.makeWorkspace(g))
            let r = ReferenceOps.batchNormTraining(x: x.toArray(), channels: g.channels, gamma: gamma.toArray(),
                                                   beta: beta.toArray(), epsilon: Double(g.epsilon), relu: g.fuseReLU)
            XCTAssertLessThanOrEqual(relativeError(y.toArray(), r.y), 1e-4, "\(g)")
            assertClose(mean, r.mean, rtol: 1e-4, atol: 1e-5, "\(g) mean")
            assertClose(variance, r.variance, rtol: 1e-4, atol: 1e-5, "\(g) variance")
        }
    }

    func testInferenceForwardMatchesReference() {
        var rng = SeededRandom(seed: 12)
        for g in Self.geometries {
            let x = rng.tensor(g.shape, .nhwc, -2, 3)
            let gamma = rng.tensor([g.channels], .x, 0.5, 1.5), beta = rng.tensor([g.channels], .x)
            let mean = rng.tensor([g.channels], .x), variance = rng.tensor([g.channels], .x, 0.2, 2)
            let y = Tensor(shape: g.shape, layout: .nhwc)
            BatchNorm.forwardInference(g, x: x, gamma: gamma, beta: beta, runningMean: mean, runningVariance: variance, y: y)
            let r = ReferenceOps.batchNormInference(x: x.toArray(), channels: g.channels, gamma: gamma.toArray(),
                                                    beta: beta.toArray(), mean: mean.toArray(), variance: variance.toArray(),
                                                    epsilon: Double(g.epsilon), relu: g.fuseReLU)
            XCTAssertLessThanOrEqual(relativeError(y.toArray(), r), 1e-4, "\(g)")
        }
    }

    func testBackwardMatchesReferenceAndFiniteDifferences() {
        var rng = SeededRandom(seed: 13)
        for g in Self.geometries where g.reduction > 1 {
            let x = rng.tensor(g.shape, .nhwc, -2, 3)
            let gamma = rng.tensor([g.channels], .x, 0.5, 1.5), beta = rng.tensor([g.channels], .x, -0.3, 0.3)
            let dy = rng.tensor(g.shape, .nhwc)
            let c = g.channels
            let y = Tensor(shape: g.shape, layout: .nhwc)
            let mean = Tensor(shape: [c], layout: .x), variance = Tensor(shape: [c], layout: .x)
            let ws = BatchNorm.makeWorkspace(g)
            BatchNorm.forwardTraining(g, x: x, gamma: gamma, beta: beta, y: y, mean: mean, variance: variance, workspace: ws)
            let dx = Tensor(shape: g.shape, layout: .nhwc)
            let dGamma = Tensor(shape: [c], layout: .x), dBeta = Tensor(shape: [c], layout: .x)
            BatchNorm.backward(g, x: x, dy: dy, gamma: gamma, beta: beta, mean: mean, variance: variance, workspace: ws,
                               dx: dx, dGamma: dGamma, dBeta: dBeta)
            let r = ReferenceOps.batchNormBackward(x: x.toArray(), dy: dy.toArray(), channels: c, gamma: gamma.toArray(),
                                                   beta: beta.toArray(), epsilon: Double(g.epsilon), relu: g.fuseReLU)
            XCTAssertLessThanOrEqual(relativeError(dx.toArray(), r.dx), 1e-4, "\(g) dx")
            XCTAssertLessThanOrEqual(relativeError(dGamma.toArray(), r.dGamma), 1e-4, "\(g) dgamma")
            XCTAssertLessThanOrEqual(relativeError(dBeta.toArray(), r.dBeta), 1e-4, "\(g) dbeta")

            func loss(_ xs: [Float], _ gs: [Float], _ bs: [Float]) -> Double {
                let out = Tensor(shape: g.shape, layout: .nhwc)
                let m = Tensor(shape: [c], layout: .x), v = Tensor(shape: [c], layout: .x)
                BatchNorm.forwardTraining(g, x: Tensor(shape: g.shape, layout: .nhwc, values: xs),
                                          gamma: Tensor(shape: [c], layout: .x, values: gs),
                                          beta: Tensor(shape: [c], layout: .x, values: bs), y: out, mean: m, variance: v,
                                          workspace: BatchNorm.makeWorkspace(g))
                return dot(out.toArray(), dy.toArray())
            }
            let (xs, gs, bs) = (x.toArray(), gamma.toArray(), beta.toArray())
            checkGradient("bn dx \(g)", at: xs, analytic: dx.toArray(), step: 1e-3) { loss($0, gs, bs) }
            checkGradient("bn dgamma \(g)", at: gs, analytic: dGamma.toArray(), step: 1e-3) { loss(xs, $0, bs) }
            checkGradient("bn dbeta \(g)", at: bs, analytic: dBeta.toArray(), step: 1e-3) { loss(xs, gs, $0) }
        }
    }

    func testRunningStatisticsFollowPyTorch() {
        let rm = Tensor(shape: [2], layout: .x, values: [0, 1])
        let rv = Tensor(shape: [2], layout: .x, values: [1, 1])
        let bm = Tensor(shape: [2], layout: .x, values: [2, -1])
        let bv = Tensor(shape: [2], layout: .x, values: [3, 0.5])
        BatchNorm.updateRunningStatistics(runningMean: rm, runningVariance: rv, batchMean: bm, batchVariance: bv,
                                          momentum: 0.1, reduction: 4)
        // mean: 0.9 * 0 + 0.1 * 2 = 0.2; 0.9 * 1 + 0.1 * -1 = 0.8
        // var: 0.9 * 1 + 0.1 * 3 * 4/3 = 1.3; 0.9 + 0.1 * 0.5 * 4/3 = 0.96667
        assertClose(rm, [0.2, 0.8], rtol: 1e-6)
        assertClose(rv, [1.3, 0.9 + 0.05 * 4 / 3], rtol: 1e-6)
    }
}
