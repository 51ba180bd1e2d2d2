// ConvShape: one convolution as ReIDNet's inference runs it (BN folded into a bias, the
// ReLU or the residual addition fused), the key of a latency table entry, and the list
// of them a ResNet architecture runs for a batch and an input size.
import NN
import Tensors

public struct ConvShape: Hashable, Codable, Sendable {
    /// What the kernel does after the convolution.
    public enum Post: String, Codable, Sendable { case none, relu, sum }
    public var batch: Int
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int
    /// Input spatial size (H, W).
    public var height: Int
    public var width: Int
    public var post: Post

    public init(batch: Int, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int,
                height: Int, width: Int, post: Post) {
        self.batch = batch
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.height = height
        self.width = width
        self.post = post
    }

    /// Output spatial size (H', W').
    public var outputSize: (Int, Int) {
        ResNetArchitecture.outputSize(height, width, kernel: kernel, stride: stride, padding: padding)
    }

    /// A stable text key, e.g. "n32 c256 k64 1x1 s1 p0 64x32 relu".
    public var key: String {
        "n\(batch) c\(inChannels) k\(outChannels) \(kernel)x\(kernel) s\(stride) p\(padding) \(height)x\(width) \(post.rawValue)"
    }

    /// Parses `key`; nil for anything else.
    public init?(key: String) {
        let f = key.split(separator: " ").map(String.init)
        guard f.count == 8, let post = Post(rawValue: f[7]) else { return nil }
        func num(_ s: String, _ prefix: String) -> Int? { s.hasPrefix(prefix) ? Int(s.dropFirst(prefix.count)) : nil }
        let k = f[3].split(separator: "x"), hw = f[6].split(separator: "x")
        guard let n = num(f[0], "n"), let c = num(f[1], "c"), let o = num(f[2], "k"), k.count == 2, let kh = Int(k[0]),
              Int(k[1]) == kh, let s = num(f[4], "s"), let p = num(f[5], "p"), hw.count == 2, let h = Int(hw[0]),
              let w = Int(hw[1]), n > 0, c > 0, o > 0, kh > 0, s > 0, p >= 0, h > 0, w > 0 else { return nil }
        self.init(batch: n, inChannels: c, outChannels: o, kernel: kh, stride: s, padding: p, height: h, width: w, post: post)
    }
}

extension ResNetArchitecture {
    /// Every convolution inference runs for images (batch, height, width, 3), in forward
    /// order: the stem (then 3x3/2 max pooling), and per block its convolutions, the
    /// downsample before the last one (which adds into the shortcut). The stem and the
    /// blocks that `InferenceSchedule` runs on micro-batches appear once per micro-batch,
    /// at its size (activations of `valueBytes`, a last-level cache of `cacheBytes`).
    public func inferenceConvolutions(batch: Int, height: Int, width: Int, valueBytes: Int = 4,
                                      cacheBytes: Int = CPUCache.lastLevelBytes) -> [ConvShape] {
        let schedule = InferenceSchedule(architecture: self, batch: batch, height: height, width: width,
                                         valueBytes: valueBytes, cacheBytes: cacheBytes)
        let early = schedule.earlyBlocks
        var shapes: [ConvShape] = []
        for size in schedule.chunks where early > 0 {
            shapes += convolutions(batch: size, height: height, width: width, blocks: 0..<early)
        }
        let total = stages.reduce(0) { $0 + $1.blocks.count }
        return shapes + convolutions(batch: batch, height: height, width: width, blocks: early..<total,
                                     stem: early == 0)
    }

    /// The convolutions of the blocks in `run` (forward order across stages), after the
    /// stem's when `stem` is set.
    private func convolutions(batch: Int, height: Int, width: Int, blocks run: Range<Int>, stem withStem: Bool = true) -> [ConvShape] {
        var shapes: [ConvShape] = []
        let stem = ConvShape(batch: batch, inChannels: 3, outChannels: stemWidth, kernel: 7, stride: 2, padding: 3,
                             height: height, width: width, post: .relu)
        if withStem { shapes.append(stem) }
        var (h, w) = ResNetArchitecture.stemSizes(height: height, width: width).pooled
        var index = 0
        for (s, stage) in stages.enumerated() {
            for (b, spec) in stage.blocks.enumerated() {
                defer { index += 1 }
                let input = blockInput(stage: s, block: b)
                var (ch, cw) = (h, w), c = input
                let widths = spec.inner + [stage.width]
                for (i, k) in widths.enumerated() {
                    let (kernel, stride, pad) = unitGeometry(i, blockStride: spec.stride)
                    let last = i == widths.count - 1
                    if last && spec.hasDownsample && run.contains(index) {
                        shapes.append(ConvShape(batch: batch, inChannels: input, outChannels: stage.width, kernel: 1,
                                                stride: spec.stride, padding: 0, height: h, width: w, post: .none))
                    }
                    let shape = ConvShape(batch: batch, inChannels: c, outChannels: k, kernel: kernel, stride: stride,
                                          padding: pad, height: ch, width: cw, post: last ? .sum : .relu)
                    if run.contains(index) { shapes.append(shape) }
                    (ch, cw) = shape.outputSize
                    c = k
                }
                (h, w) = (ch, cw)
            }
        }
        return shapes
    }
}
