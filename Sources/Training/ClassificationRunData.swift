// ClassificationRunData: what a classification run trains and evaluates on, whatever the
// layout behind it (image folders with the global sampler, or this rank's shard stream):
// the classes, this rank's training batches, passes over this rank's slice of val, and
// what a resume with another rank count may do.
import Foundation
import ReIDData

public struct ClassificationRunData {
    /// The data set's name, for logs and results.
    public var name: String
    public var synthetic: Bool
    /// Class names; index = class.
    public var classNames: [String]
    /// This rank's training batches (pids = class indices).
    public var source: BatchSource
    /// Images per step over every rank.
    public var globalBatch: Int
    /// Side of the square training and evaluation input (the transform's size).
    public var imageSize: Int
    public var trainImages: Int
    /// Starts a pass over this rank's slice of val.
    public var validation: () throws -> ValidationSlice
    /// Whether a run may resume with another number of ranks (the global sampler over
    /// folders gives every rank count the same batches; shard streams do not).
    public var allowsRankCountChange: Bool
    /// Seconds the trainer waited for batches so far.
    public var waitSeconds: () -> Double
    /// Stops the source's worker threads.
    public var shutdown: () -> Void

    public init(name: String, synthetic: Bool, classNames: [String], source: BatchSource, globalBatch: Int, imageSize: Int,
                trainImages: Int, allowsRankCountChange: Bool, waitSeconds: @escaping () -> Double = { 0 },
                shutdown: @escaping () -> Void = {}, validation: @escaping () throws -> ValidationSlice) {
        self.name = name
        self.synthetic = synthetic
        self.classNames = classNames
        self.source = source
        self.globalBatch = globalBatch
        self.imageSize = imageSize
        self.trainImages = trainImages
        self.allowsRankCountChange = allowsRankCountChange
        self.waitSeconds = waitSeconds
        self.shutdown = shutdown
        self.validation = validation
    }

    public var numClasses: Int { classNames.count }

    /// One line for the log.
    public var summary: String {
        "\(name): \(numClasses) classes, \(trainImages) training images, global batch \(globalBatch), "
            + "\(imageSize)x\(imageSize)" + (synthetic ? " (synthetic)" : "")
    }
}
