// Surgery: applies a PrunePlan physically: a new, smaller network whose every parameter,
// buffer and optimizer moment is the old one with the removed channels cut out of each
// axis (producing convolutions and BNs, and every consumer: next convolutions,
// downsamples, BNNeck, embedding, classifier or `fc`). Optionally folds a removed channel's
// constant eval-mode output, relu(beta - gamma mu / sigma), into each consumer's BN
// running mean, so that an eval-mode network whose filters were zeroed and the cut
// network agree (exactly for 1x1 consumers, away from the borders for 3x3 ones).
import NN
import Tensors

public enum Surgery {
    /// The network `plan` leaves, with weights, buffers and moments carried over.
    public static func apply(_ plan: PrunePlan, to net: ReIDNet, fold: Bool = false) throws -> ReIDNet {
        guard plan.before == net.architecture, plan.head.embeddingDim == net.headConfig.embeddingDim,
              plan.head.bnneck == net.headConfig.bnneck, plan.head.task == net.headConfig.task else {
            throw PruningError("the plan was made for another architecture than this network's")
        }
        let map = GroupMap.build(net.architecture, head: net.headConfig)
        for (name, keep) in plan.kept {
            guard let g = map.index(of: name) else { throw PruningError("the plan names an unknown group '\(name)'") }
            guard !keep.isEmpty, keep == keep.sorted(), Set(keep).count == keep.count,
                  keep.allSatisfy({ $0 >= 0 && $0 < map.groups[g].channels }) else {
                throw PruningError("group '\(name)': kept channels must be distinct, ascending, within 0..<\(map.groups[g].channels)")
            }
        }
        let keepOf = map.groups.map { g in plan.kept[g.name] ?? Array(0..<g.channels) }
        let arch = net.architecture.withGroupCounts(keepOf.map(\.count), map: map)
        guard arch == plan.after else { throw PruningError("the plan's architecture after pruning is inconsistent") }
        let cut = try ReIDNet(architecture: arch, head: net.headConfig)
        cut.precision = net.precision
        let old = net.store, new = cut.store
        let shifts = fold ? foldShifts(net, map: map, keepOf: keepOf) : [:]
        func copy(_ name: String, _ shape: [Int], from src: UnsafeMutablePointer<Float>, to dst: UnsafeMutablePointer<Float>) {
            let (a0, a1) = map.axes[name] ?? (nil, nil)
            let k0 = a0.map { keepOf[$0] } ?? Array(0..<(shape.first ?? 1))
            let oldShape = shapeOf(name, old)
            let inner = oldShape.count > 2 ? oldShape[2...].reduce(1, *) : 1
            if oldShape.count <= 1 {
                for (i, o) in k0.enumerated() where oldShape.count == 1 { dst[i] = src[o] }
                if oldShape.isEmpty { dst[0] = src[0] }
                return
            }
            let k1 = a1.map { keepOf[$0] } ?? Array(0..<oldShape[1])
            for (i, o) in k0.enumerated() {
                for (j, p) in k1.enumerated() {
                    (dst + (i * k1.count + j) * inner).update(from: src + (o * oldShape[1] + p) * inner, count: inner)
                }
            }
        }
        for (i, slot) in new.parameterSlots.enumerated() {
            guard let (isBuffer, oi) = old.lookup(slot.name), !isBuffer else {
                throw PruningError("surgery: '\(slot.name)' is missing from the source network")
            }
            copy(slot.name, slot.shape, from: old.parameters + old.parameterSlots[oi].offset, to: new.parameters + slot.offset)
            for moment in old.moments.keys {
                copy(slot.name, slot.shape, from: old.moment(moment) + old.parameterSlots[oi].offset,
                     to: new.moment(moment) + slot.offset)
            }
            _ = i
        }
        for slot in new.bufferSlots {
            guard let (isBuffer, oi) = old.lookup(slot.name), isBuffer else {
                throw PruningError("surgery: buffer '\(slot.name)' is missing from the source network")
            }
            copy(slot.name, slot.shape, from: old.buffers + old.bufferSlots[oi].offset, to: new.buffers + slot.offset)
            if let shift = shifts[slot.name] {
                let keep = map.axes[slot.name]?.0.map { keepOf[$0] } ?? Array(0..<shift.count)
                let dst = new.buffers + slot.offset
                for (i, o) in keep.enumerated() { dst[i] -= shift[o] }
            }
        }
        new.parametersChanged()
        return cut
    }

    static func shapeOf(_ name: String, _ store: ParameterStore) -> [Int] {
        let (isBuffer, i) = store.lookup(name)!
        return isBuffer ? store.bufferSlots[i].shape : store.parameterSlots[i].shape
    }

    /// For each consumer BN's running mean (by name, indexed by its old channels), the
    /// constant that removed inner channels added to its convolution's output.
    static func foldShifts(_ net: ReIDNet, map: GroupMap, keepOf: [[Int]]) -> [String: [Float]] {
        var shifts: [String: [Float]] = [:]
        let s = net.store
        func param(_ n: String) -> Tensor { s.parameter(s.lookup(n)!.index) }
        func buffer(_ n: String) -> Tensor { s.buffer(s.lookup(n)!.index) }
        for (g, group) in map.groups.enumerated() where group.kind == .inner {
            let removed = Set(0..<group.channels).subtracting(keepOf[g])
            guard !removed.isEmpty, let bn = group.producers.first?[1] else { continue }
            let gamma = param("\(bn).weight"), beta = param("\(bn).bias")
            let mean = buffer("\(bn).running_mean"), variance = buffer("\(bn).running_var")
            // In channel order: every rank must sum in the same order to get the same bits.
            var constant: [(Int, Float)] = []
            for c in removed.sorted() {
                let k = max(0, beta[c] - gamma[c] * mean[c] / (variance[c] + 1e-5).squareRoot())
                if k != 0 { constant.append((c, k)) }
            }
            guard !constant.isEmpty else { continue }
            // Consumers: convolutions whose input axis is this group.
            for (name, axes) in map.axes.sorted(by: { $0.key < $1.key }) where axes.1 == g && name.hasSuffix(".weight") {
                let convName = String(name.dropLast(".weight".count))
                let consumerBN = convName.hasSuffix(".downsample.0")
                    ? String(convName.dropLast(2)) + ".1"
                    : convName.replacingOccurrences(of: ".conv", with: ".bn")
                let w = param(name)
                let (o, i) = (w.shape[0], w.shape[1]), taps = w.count / (o * i)
                let key = "\(consumerBN).running_mean"
                var shift = shifts[key] ?? [Float](repeating: 0, count: o)
                for out in 0..<o {
                    for (c, k) in constant {
                        var sum: Float = 0
                        for t in 0..<taps { sum += w[(out * i + c) * taps + t] }
                        shift[out] += k * sum
                    }
                }
                shifts[key] = shift
            }
        }
        return shifts
    }
}
