// ProgressBar: one self-rewriting line on stderr while a terminal is attached
// (epoch, bar, images/s, loss, ETA); silent otherwise, so logs stay clean.
import Foundation

public final class ProgressBar {
    private let enabled: Bool
    private let width = 24

    public init(enabled: Bool = true) {
        self.enabled = enabled && isatty(2) != 0
    }

    /// Redraws the line for `done` of `total` steps.
    public func update(epoch: Int, epochs: Int, done: Int, total: Int, imagesPerSecond: Double, loss: Double,
                       etaSeconds: Double) {
        guard enabled else { return }
        let filled = total > 0 ? min(width, width * done / total) : 0
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "")
            + String(repeating: " ", count: max(0, width - filled - 1))
        let line = String(format: "\rE%d/%d [%@] %d/%d  %.1f img/s  loss %.4f  ETA %@ ", epoch, epochs, bar, done, total,
                          imagesPerSecond, loss, ProgressBar.clock(etaSeconds))
        FileHandle.standardError.write(Data(line.utf8))
    }

    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    public static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--:--" }
        let s = Int(seconds.rounded())
        return String(format: "%02d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }
}
