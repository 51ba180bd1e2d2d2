// TextColumns: fixed-width columns for the command line's tables (FLOPs per layer,
// kernel timings).

public enum TextColumns {
    /// `s` padded (left-aligned, or right-aligned when `right`) or cut to `n` columns.
    public static func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
        if s.count >= n { return String(s.prefix(n - 1)) + " " }
        let fill = String(repeating: " ", count: n - s.count)
        return right ? fill + s : s + fill
    }
}
