"""Which counting convention gives the study's ResNet-50 figures (6.32 GFLOPs unpruned,
2.96 after pruning half of the prunable filters with L1)? Counts torchvision ResNet-50
layer by layer under the usual conventions (input size, last stride, multiply-adds once
or twice, which layers count) for the unpruned model and for the model with half of
every bottleneck's conv1/conv2 filters removed (L1 layer-wise at one rate), and prints
them nearest first. Plain Python, no dependencies: python3 benchmarks/flops_conventions.py
"""
import itertools

STUDY = (6.32, 2.96)


def resnet50(h, w, last_stride, keep):
    """Per-layer records (kind, macs, out_elements, in_elements) for ResNet-50 with each
    bottleneck's inner width multiplied by `keep` (rounded)."""
    layers = []

    def conv(c, h, w, k, kernel, stride, pad):
        oh, ow = (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1
        layers.append(("conv", oh * ow * k * c * kernel * kernel, k * oh * ow, c * h * w))
        return oh, ow

    def eltwise(kind, c, h, w):
        layers.append((kind, 0, c * h * w, c * h * w))

    h, w = conv(3, h, w, 64, 7, 2, 3)
    eltwise("bn", 64, h, w)
    eltwise("relu", 64, h, w)
    ph, pw = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    layers.append(("maxpool", 0, 64 * ph * pw, 64 * h * w))
    h, w = ph, pw
    c = 64
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        stride = 1 if stage == 0 else (last_stride if stage == 3 else 2)
        inner = max(1, round(width * keep))
        out = width * 4
        for b in range(blocks):
            s = stride if b == 0 else 1
            h1, w1 = conv(c, h, w, inner, 1, 1, 0)
            eltwise("bn", inner, h1, w1); eltwise("relu", inner, h1, w1)
            h2, w2 = conv(inner, h1, w1, inner, 3, s, 1)
            eltwise("bn", inner, h2, w2); eltwise("relu", inner, h2, w2)
            h3, w3 = conv(inner, h2, w2, out, 1, 1, 0)
            eltwise("bn", out, h3, w3)
            if b == 0:
                conv(c, h, w, out, 1, s, 0)
                eltwise("bn", out, h3, w3)
            eltwise("add", out, h3, w3)
            eltwise("relu", out, h3, w3)
            h, w, c = h3, w3, out
    layers.append(("avgpool", 0, c, c * h * w))
    layers.append(("fc", 2048 * 1000, 1000, 2048))
    return layers


# What each convention adds per layer kind: a function of (macs, out, in).
CONVENTIONS = {
    "conv+fc MACs": {"conv": lambda m, o, i: m, "fc": lambda m, o, i: m},
    "conv only MACs": {"conv": lambda m, o, i: m},
    "conv+fc+bn+relu+pool+add (ptflops-like: bn 2/elem, relu 1, pools 1/input, add 1)": {
        "conv": lambda m, o, i: m, "fc": lambda m, o, i: m, "bn": lambda m, o, i: 2 * o, "relu": lambda m, o, i: o,
        "maxpool": lambda m, o, i: i, "avgpool": lambda m, o, i: i, "add": lambda m, o, i: o},
    "conv+fc+bn (thop-like: bn 2/elem)": {
        "conv": lambda m, o, i: m, "fc": lambda m, o, i: m, "bn": lambda m, o, i: 2 * o},
    "conv+fc+bn+relu (bn 1, relu 1 per element)": {
        "conv": lambda m, o, i: m, "fc": lambda m, o, i: m, "bn": lambda m, o, i: o, "relu": lambda m, o, i: o},
}


def count(layers, convention):
    rules = CONVENTIONS[convention]
    return sum(rules[k](m, o, i) for k, m, o, i in layers if k in rules)


def main():
    rows = []
    sizes = [(256, 128), (224, 224), (384, 128), (288, 144), (320, 160)]
    for (h, w), ls, conv_name, factor in itertools.product(sizes, [1, 2], CONVENTIONS, [1, 2]):
        full = factor * count(resnet50(h, w, ls, 1.0), conv_name) / 1e9
        pruned = factor * count(resnet50(h, w, ls, 0.5), conv_name) / 1e9
        distance = abs(full - STUDY[0]) / STUDY[0] + abs(pruned - STUDY[1]) / STUDY[1]
        rows.append((distance, h, w, ls, factor, conv_name, full, pruned))
    rows.sort()
    print("study: %.2f GFLOPs unpruned, %.2f pruned (ratio %.3f)" % (STUDY[0], STUDY[1], STUDY[1] / STUDY[0]))
    print("%-9s %-3s %-8s %-7s %-7s %-6s %s" % ("input", "ls", "x", "full", "pruned", "ratio", "counted"))
    for d, h, w, ls, factor, name, full, pruned in rows[:15]:
        print("%-9s %-3d %-8s %-7.3f %-7.3f %-6.3f %s" % ("%dx%d" % (h, w), ls, "2xMAC" if factor == 2 else "MAC",
                                                      full, pruned, pruned / full, name))


if __name__ == "__main__":
    main()
