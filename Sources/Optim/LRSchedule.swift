// LRSchedule: the learning rate as a function of (fractional) epoch: an optional linear
// warmup from `warmupFactor` x base to the base rate, then multi-step decay (x gamma at
// each milestone) or cosine annealing to a floor, as torchreid and fast-reid schedule.
import Foundation

public struct LRSchedule: Codable, Hashable, Sendable {
    public enum Decay: Codable, Hashable, Sendable {
        case constant
        case multiStep(milestones: [Int], gamma: Double)
        case cosine(totalEpochs: Int, minimum: Double)
    }

    public var base: Double
    public var warmupEpochs: Double
    public var warmupFactor: Double
    public var decay: Decay

    public init(base: Double, warmupEpochs: Double = 0, warmupFactor: Double = 0.01, decay: Decay = .constant) {
        self.base = base
        self.warmupEpochs = warmupEpochs
        self.warmupFactor = warmupFactor
        self.decay = decay
    }

    /// The rate at `epoch` (0-based; 2.5 is half way through the third epoch).
    public func rate(at epoch: Double) -> Double {
        var lr = base
        switch decay {
        case .constant:
            break
        case let .multiStep(milestones, gamma):
            let passed = milestones.filter { Double($0) <= epoch }.count
            lr *= pow(gamma, Double(passed))
        case let .cosine(total, minimum):
            let t = min(max(epoch - warmupEpochs, 0) / max(Double(total) - warmupEpochs, 1e-9), 1)
            lr = minimum + (base - minimum) * 0.5 * (1 + cos(Double.pi * t))
        }
        if warmupEpochs > 0 && epoch < warmupEpochs {
            let alpha = epoch / warmupEpochs
            lr *= warmupFactor * (1 - alpha) + alpha
        }
        return lr
    }
}
