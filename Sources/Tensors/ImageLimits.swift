// ImageLimits: the image sizes every command accepts, so that a size a user gives is
// refused with its option's name before any map size or buffer is computed from it.

public enum ImageLimits {
    /// The largest image side (height or width) in pixels.
    public static let maxSide = 8192

    /// Whether `side` is within `minimum`...`maxSide`.
    public static func accepts(_ side: Int, minimum: Int) -> Bool { (minimum...maxSide).contains(side) }

    /// What is wrong with `--height`/`--width` options (height from 32, width from
    /// `minWidth`), in the words of the command-line error; nil when both are accepted.
    public static func optionProblem(height: Int, width: Int, minWidth: Int = 32) -> String? {
        guard !(accepts(height, minimum: 32) && accepts(width, minimum: minWidth)) else { return nil }
        let ranges = minWidth == 32 ? "--height and --width must be 32 to \(maxSide)"
            : "--height must be 32...\(maxSide) and --width \(minWidth)...\(maxSide)"
        return "\(ranges), got \(height)x\(width)"
    }
}
