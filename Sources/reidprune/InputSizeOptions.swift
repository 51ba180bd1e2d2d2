// --height and --width of the commands that feed a model images (extract, visrank,
// export): checked when given, else the size the model was trained at.
import ArgumentParser
import Foundation
import NN
import Tensors

enum InputSizeOptions {
    static func validate(height: Int?, width: Int?) throws {
        for (name, value, least) in [("--height", height, 32), ("--width", width, 16)] {
            if let value, !ImageLimits.accepts(value, minimum: least) {
                throw ValidationError("\(name) must be \(least) to \(ImageLimits.maxSide), got \(value)")
            }
        }
    }

    /// The size to use for `weights`; a warning on stderr (when `warn`) when it is not the
    /// one the model, or the `others` fed the same images, were trained at.
    static func resolve(height: Int?, width: Int?, weights: String, others: [String] = [], warn: Bool = true) -> (Int, Int) {
        let size = ModelWeights.inputSize(height: height, width: width, weights: weights)
        let warnings = [size.warning] + others.map {
            ModelWeights.inputSize(height: size.height, width: size.width, weights: $0).warning
        }
        for case let warning? in warnings where warn { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
        return (size.height, size.width)
    }
}
