// StepBreakdown: where the training benchmark's timed steps go: the wall time of each
// phase of `Trainer.step` (forward, losses, backward, update, and the rest), and the
// convolutions' calls and time per pass, counted by an attached ConvolutionAccounting;
// per-step medians for `bench train`'s text and JSON.
import Foundation
import Tensors

/// Median milliseconds of each phase over the timed steps; `other` is the step minus the
/// four phases (what `Trainer.step` does before the forward and after the update).
public struct StepPhaseTimes: Codable, Sendable, Equatable {
    public var forward: Double
    public var losses: Double
    public var backward: Double
    public var update: Double
    public var other: Double
}

/// One value per convolution pass (JSON keys forward, backward_data, backward_weights).
public struct ConvolutionPasses<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var forward: Value
    public var backward_data: Value
    public var backward_weights: Value

    public init(forward: Value, backward_data: Value, backward_weights: Value) {
        self.forward = forward
        self.backward_data = backward_data
        self.backward_weights = backward_weights
    }

    init(_ value: (ConvolutionKind) -> Value) {
        self.init(forward: value(.forward), backward_data: value(.backwardData), backward_weights: value(.backwardWeights))
    }
}

extension ConvolutionPasses where Value == Double {
    /// forward + backward_data + backward_weights.
    public var total: Double { forward + backward_data + backward_weights }
}

/// Records the phases and convolutions of each timed step; the calling thread's
/// convolutions are counted between `start()` and `stop()`.
final class StepBreakdown {
    private let accounting = ConvolutionAccounting()
    private var marks: [StepPhase: UInt64] = [:]
    private var last: [ConvolutionKind: ConvolutionAccounting.Tally] = [:]
    private var phases: [[Double]] = []  // per step: forward, losses, backward, update, other (seconds)
    private var convolutions: [[ConvolutionKind: ConvolutionAccounting.Tally]] = []

    /// The trainer's phase observer calls this as each phase ends.
    func mark(_ phase: StepPhase) { marks[phase] = DispatchTime.now().uptimeNanoseconds }

    /// Starts counting the calling thread's convolutions; marks from before are dropped.
    func start() {
        marks = [:]
        accounting.reset()
        last = accounting.snapshot
        accounting.attach()
    }

    /// Stops counting the calling thread's convolutions.
    func stop() { ConvolutionAccounting.detach() }

    /// Closes one timed step that ran from `start` to `end` (uptime nanoseconds). A phase
    /// that did not run (a skipped update) counts as zero.
    func record(start: UInt64, end: UInt64) {
        var previous = start, durations: [Double] = []
        for phase in StepPhase.allCases {
            if let t = marks[phase], t >= previous {
                durations.append(Double(t - previous) / 1e9)
                previous = t
            } else {
                durations.append(0)
            }
        }
        durations.append(max(0, Double(end - start) / 1e9 - durations.reduce(0, +)))
        phases.append(durations)
        marks = [:]
        let now = accounting.snapshot
        var delta: [ConvolutionKind: ConvolutionAccounting.Tally] = [:]
        for kind in ConvolutionKind.allCases {
            let a = now[kind]!, b = last[kind]!
            var d = ConvolutionAccounting.Tally()
            d.calls = a.calls - b.calls
            d.nanoseconds = a.nanoseconds - b.nanoseconds
            d.primitiveNanoseconds = a.primitiveNanoseconds - b.primitiveNanoseconds
            d.weightReorderNanoseconds = a.weightReorderNanoseconds - b.weightReorderNanoseconds
            delta[kind] = d
        }
        convolutions.append(delta)
        last = now
    }

    /// Median milliseconds of each phase over the recorded steps.
    var phaseTimes: StepPhaseTimes {
        let m = (0..<5).map { i in StepBreakdown.median(phases.map { $0[i] }) * 1e3 }
        return StepPhaseTimes(forward: m[0], losses: m[1], backward: m[2], update: m[3], other: m[4])
    }

    /// Median milliseconds per step of whole convolution calls (reorders included).
    var convolutionMilliseconds: ConvolutionPasses<Double> {
        ConvolutionPasses { kind in StepBreakdown.median(self.convolutions.map { Double($0[kind]!.nanoseconds) }) / 1e6 }
    }

    /// Median milliseconds per step inside the convolution primitives alone.
    var primitiveMilliseconds: ConvolutionPasses<Double> {
        ConvolutionPasses { kind in
            StepBreakdown.median(self.convolutions.map { Double($0[kind]!.primitiveNanoseconds) }) / 1e6
        }
    }

    /// Median milliseconds per step of the convolutions' weight reorders alone.
    var weightReorderMilliseconds: ConvolutionPasses<Double> {
        ConvolutionPasses { kind in
            StepBreakdown.median(self.convolutions.map { Double($0[kind]!.weightReorderNanoseconds) }) / 1e6
        }
    }

    /// Median convolution calls per step.
    var calls: ConvolutionPasses<Int> {
        ConvolutionPasses { kind in Int(StepBreakdown.median(self.convolutions.map { Double($0[kind]!.calls) })) }
    }

    /// The middle value (the upper one of an even count), 0 for none.
    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        return values.sorted()[values.count / 2]
    }
}
