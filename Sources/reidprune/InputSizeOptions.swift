// --height and --width of the commands that feed a model images (extract, visrank,
// export): checked when given, else the size the model was trained at.
import ArgumentParser
import Foundation
import NN
import Tensors

enum InputSizeOptions {
    static func validate(height: Int?, width: Int?) throws {
        for (name, value, least) in [("--height", height, 32), ("--width", width, 16)] {
            if let value, !(least...ImageLimits.maxSide).contains(value) {
                throw ValidationError("\(name) must be \(least) to \(ImageLimits.maxSide), got \(value)")
            }
        }
    }

    /// The size to use for `weights`; a warning on stderr when it is not the one the
    /// model was trained at.
    static func resolve(height: Int?, width: Int?, weights: String) -> (Int, Int) {
        let size = ModelWeights.inputSize(height: height, width: width, weights: weights)
        if let warning = size.warning { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
        return (size.height, size.width)
    }
}
