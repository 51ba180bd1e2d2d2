// CPUCache: the size of this machine's last-level data cache, as Linux reports it in
// /sys/devices/system/cpu/cpu0/cache (the highest level that holds data).
import Foundation

public enum CPUCache {
    /// Bytes of the last-level cache (8 MiB when the system does not say).
    public static let lastLevelBytes: Int = lastLevelBytes(
        folder: "/sys/devices/system/cpu/cpu0/cache") ?? 8 << 20

    /// The largest level's size among `folder`'s index* entries whose type is Data or
    /// Unified; nil when none can be read.
    static func lastLevelBytes(folder: String) -> Int? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        var best: (level: Int, bytes: Int)?
        for name in names where name.hasPrefix("index") {
            func read(_ file: String) -> String? {
                (try? String(contentsOfFile: "\(folder)/\(name)/\(file)", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let type = read("type"), type == "Data" || type == "Unified",
                  let level = read("level").flatMap({ Int($0) }), let size = read("size").flatMap(parseSize) else { continue }
            if best == nil || level > best!.level { best = (level, size) }
        }
        return best?.bytes
    }

    /// "32768K", "32M", "1024" (bytes) -> bytes.
    static func parseSize(_ text: String) -> Int? {
        let unit = text.last.map { $0.uppercased() }
        let scale = unit == "K" ? 1 << 10 : unit == "M" ? 1 << 20 : unit == "G" ? 1 << 30 : 1
        let digits = scale == 1 ? Substring(text) : text.dropLast()
        guard let v = Int(digits), v > 0 else { return nil }
        return v * scale
    }
}
