// ObservedTrainingSteps: the training steps of a small network that the tests of what
// training keeps for backward share: fixed images and labels, cross-entropy and triplet
// gradients, optionally observers on every inner unit that force its output to be
// recomputed in backward and compare it with the forward's; the gradients (as bits), the
// observers' mismatches and the pool's size and lent bytes.
@testable import NN
import Tensors
import XCTest

/// What `observedTrainingSteps` saw.
struct ObservedSteps {
    /// Every parameter slot's gradient after the last step, as bit patterns.
    var grads: [[UInt32]]
    /// Inner units whose output seen in backward differed from the forward's.
    var mismatches: Int
    /// The pool's bytes after each step.
    var pool: [Int]
    /// Bytes lent out at the end of the first forward (what training keeps for backward).
    var kept: Int
    /// Bytes still lent after the last step.
    var lent: Int
}

/// Runs `steps` training steps of a fresh network (seed 5, BNNeck, 4 classes) on `images`,
/// `classes` the cross-entropy labels and `identities` the triplet labels.
func observedTrainingSteps(_ arch: ResNetArchitecture, precision: Precision = .fp32, reducer: StatisticsReducer? = nil,
                           observe: Bool, steps: Int = 1, images: Tensor, classes: [Int],
                           identities: [Int]) throws -> ObservedSteps {
    let net = try ReIDNet(architecture: arch, head: HeadConfig(bnneck: true, numClasses: 4), seed: 5)
    net.precision = precision
    if let reducer { net.setStatisticsReducer(reducer) }
    var mismatches = 0
    var forwardOutputs: [ObjectIdentifier: [UInt32]] = [:]
    let lastUnits = Set(net.backbone.blocks.flatMap { $0 }.map { ObjectIdentifier($0.units.last!) })
    if observe {
        for u in net.backbone.units where !lastUnits.contains(ObjectIdentifier(u)) {
            let id = ObjectIdentifier(u)
            u.onForward = { y in forwardOutputs[id] = y.toArray().map(\.bitPattern) }
            u.onBackward = { y, _ in if forwardOutputs[id] != y.toArray().map(\.bitPattern) { mismatches += 1 } }
        }
    }
    var poolBytes: [Int] = [], kept: Int?
    for _ in 0..<steps {
        let out = try net.forward(images, mode: .training)
        if kept == nil { kept = net.pool.lentBytes }
        let dLogits = Tensor(shape: out.logits!.shape, layout: .nc)
        let dFeatures = Tensor(shape: out.features.shape, layout: .nc)
        _ = CrossEntropyLoss(epsilon: 0.1)(logits: out.logits!, labels: classes, gradient: dLogits)
        _ = try TripletLoss(margin: 0.3)(features: out.features, labels: identities, gradient: dFeatures)
        try net.backward(dFeatures: dFeatures, dLogits: dLogits)
        poolBytes.append(net.pool.bytes)
    }
    let grads = net.store.parameterSlots.indices.map { net.store.gradient($0).toArray().map(\.bitPattern) }
    return ObservedSteps(grads: grads, mismatches: mismatches, pool: poolBytes, kept: kept!, lent: net.pool.lentBytes)
}
