// ClassificationResult: results.json of a classification (pretraining) run: the task,
// data set, model size and cost, and top-1/top-5 on the validation set as fractions in
// [0, 1]; labelled synthetic when the data is.
import Foundation

public struct ClassificationResult: Codable, Sendable, Equatable {
    /// Always "classification" (a re-ID run's results.json has no task or "reid").
    public var task = "classification"
    public var dataset: String
    public var synthetic: Bool
    public var arch: String
    public var numClasses: Int
    public var params: Int
    /// Per image at the training input size, `fc` included.
    public var gflops: Double
    public var imageSize: Int
    /// Epochs completed: the recipe's train.epochs, or fewer when train.max_iterations ended the run.
    public var epochs: Int
    public var top1: Double
    public var top5: Double
    /// Validation images evaluated.
    public var images: Int
    public var pruningRounds: Int
    public var trainSeconds: Double
    /// `train.precision` of the run ("fp32" or "bf16"); absent in files written before it was recorded.
    public var precision: String? = nil
    /// Iterations trained, when train.max_iterations ended the run before its epochs; absent otherwise.
    public var iterations: Int? = nil
}

/// What `Experiment.train` finished, by task.
public enum RunOutcome: Sendable {
    case reid(RunResult)
    case classification(ClassificationResult)

    public var reid: RunResult? {
        if case let .reid(r) = self { return r }
        return nil
    }

    public var classification: ClassificationResult? {
        if case let .classification(r) = self { return r }
        return nil
    }

    /// The task a run folder's results.json records ("reid" when it names none).
    public static func task(ofResults data: Data) -> String {
        struct Probe: Decodable { var task: String? }
        return (try? JSONDecoder().decode(Probe.self, from: data))?.task ?? "reid"
    }
}
