// TopKCounts: how many images of a classification evaluation have their label at the
// top of the logits (top-1) and among the five highest (top-5), as torchvision's
// reference `accuracy` counts them. Counts add up, so ranks count their own slice and
// the sums equal one pass over the whole set. Pure: no communication.
import Tensors

public struct TopKCounts: Codable, Equatable, Sendable {
    public var images = 0
    public var top1 = 0
    public var top5 = 0

    public init(images: Int = 0, top1: Int = 0, top5: Int = 0) {
        self.images = images
        self.top1 = top1
        self.top5 = top5
    }

    /// logits: (N, K), labels: N ints in 0..<K. A label is within the top k when fewer
    /// than k classes have a strictly higher logit (ties count in the label's favour);
    /// with K < 5, top-5 means all K. A row with a NaN logit counts as wrong.
    public static func count(logits: Tensor, labels: [Int]) -> TopKCounts {
        require(logits.shape.count == 2 && logits.shape[0] == labels.count,
                "TopKCounts: logits \(logits.shape) for \(labels.count) labels")
        let k = logits.shape[1]
        var c = TopKCounts(images: labels.count)
        for (i, label) in labels.enumerated() {
            require(label >= 0 && label < k, "TopKCounts: label \(label) outside 0..<\(k)")
            let row = logits.data + i * k
            let own = row[label]
            var higher = 0, finite = !own.isNaN
            for j in 0..<k {
                if row[j].isNaN { finite = false }
                if row[j] > own { higher += 1 }
            }
            guard finite else { continue }
            if higher < 1 { c.top1 += 1 }
            if higher < 5 { c.top5 += 1 }
        }
        return c
    }

    public static func + (a: TopKCounts, b: TopKCounts) -> TopKCounts {
        TopKCounts(images: a.images + b.images, top1: a.top1 + b.top1, top5: a.top5 + b.top5)
    }

    public static func += (a: inout TopKCounts, b: TopKCounts) { a = a + b }

    /// [images, top1, top5], for a sum over ranks.
    public var values: [Int] { [images, top1, top5] }

    public init(values v: [Int]) {
        require(v.count == 3, "TopKCounts: expected 3 values, got \(v.count)")
        self.init(images: v[0], top1: v[1], top5: v[2])
    }
}
