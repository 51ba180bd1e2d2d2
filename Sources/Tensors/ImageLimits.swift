// ImageLimits: the image sizes every command accepts, so that a size a user gives is
// refused with its option's name before any map size or buffer is computed from it.

public enum ImageLimits {
    /// The largest image side (height or width) in pixels.
    public static let maxSide = 8192

    /// Whether `side` is within `minimum`...`maxSide`.
    public static func accepts(_ side: Int, minimum: Int) -> Bool { (minimum...maxSide).contains(side) }
}
