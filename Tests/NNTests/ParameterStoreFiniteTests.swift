// The trainer's per-step gradient norm and the check before a checkpoint: the norm
// matches a plain double sum and turns NaN or infinite as soon as one gradient is; the
// first non-finite slot is named; and on a store of ResNet-50's size (Market-1501 head)
// the norm's single pass costs less than one SGD update of the same store.
import Foundation
import NN
import Optim
import Tensors
import TestSupport
import XCTest

final class ParameterStoreFiniteTests: XCTestCase {
    func smallStore() -> ParameterStore {
        let store = ParameterStore()
        store.register("a.weight", shape: [3, 5], layout: .nc, role: .linearWeight)
        store.register("b.bias", shape: [7], layout: .x, role: .bias)
        store.registerBuffer("b.running_var", shape: [7], role: .runningVariance)
        store.allocate()
        return store
    }

    func testGradientNormMatchesADoubleSumAndSeesNaNAndInfinity() {
        let store = smallStore()
        var rng = SeededRandom(seed: 3)
        var expected = 0.0
        for i in 0..<store.parameterSlots.count {
            let g = store.gradient(i)
            for k in 0..<g.count { g[k] = rng.uniform(Float(-1), 1); expected += Double(g[k]) * Double(g[k]) }
        }
        XCTAssertEqual(store.gradientNorm(), expected.squareRoot(), accuracy: 1e-12)
        store.gradient(1)[6] = .infinity
        XCTAssertEqual(store.gradientNorm(), .infinity)
        store.gradient(0)[0] = .nan
        XCTAssertTrue(store.gradientNorm().isNaN)
        // Floats near the top of their range square without overflow in double.
        store.zeroGradients()
        store.gradient(0)[1] = .greatestFiniteMagnitude
        XCTAssertTrue(store.gradientNorm().isFinite)
    }

    func testFirstNonFiniteNamesParameterBufferOrMoment() {
        let store = smallStore()
        XCTAssertNil(store.firstNonFinite())
        store.buffer(0)[2] = .infinity
        XCTAssertEqual(store.firstNonFinite(), "b.running_var")
        store.parameter(1)[0] = .nan
        XCTAssertEqual(store.firstNonFinite(), "b.bias")
        store.parameter(1)[0] = 0
        store.buffer(0)[2] = 1
        store.moment("exp_avg_sq", 0)[4] = .nan
        XCTAssertNil(store.firstNonFinite(), "moments are looked at only when named")
        XCTAssertEqual(store.firstNonFinite(moments: ["exp_avg", "exp_avg_sq"]), "exp_avg_sq of a.weight")
    }

    /// The per-step check's norm over a ResNet-50-sized store (23.5 M floats, summed by
    /// several threads). Its cost beside an SGD update is printed, not asserted: speed is
    /// a benchmark's business, and a loaded machine can swap the two timings.
    func testGradientNormOfAResNet50SizedStore() {
        let count = FLOPsCounter.count(.resnet(.resnet50), head: HeadConfig(bnneck: true, numClasses: 751), height: 256,
                                       width: 128, includeClassifier: true).params
        let store = ParameterStore()
        store.register("all", shape: [count], layout: .x, role: .convWeight)
        store.allocate()
        store.gradients.update(repeating: 0.5, count: store.parameterCapacity)
        let sgd = SGD(store: store, learningRate: 1e-6, momentum: 0.9)
        func seconds(_ body: () -> Void) -> Double {
            (0..<3).map { _ in
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }.min()!
        }
        var norm = 0.0
        let normSeconds = seconds { norm = store.gradientNorm() }
        let updateSeconds = seconds { sgd.step() }
        XCTAssertEqual(norm, 0.5 * Double(count).squareRoot(), accuracy: 1e-6 * norm)
        print(String(format: "gradient norm of %.1f M floats: %.1f ms on %d thread(s); SGD update of the same store: %.1f ms",
                     Double(count) / 1e6, normSeconds * 1e3, DNNL.threads, updateSeconds * 1e3))
    }
}
