#!/usr/bin/env python3
"""PyTorch inference time of the architecture a reidprune model file carries (pruned or not).

Builds a torchvision-structured ResNet (Bottleneck or BasicBlock, stride on the 3x3, 1x1
downsample) with the file's widths (metadata `reidprune.architecture`) and the re-ID
head's inference path (global average pooling, BNNeck), in eval mode, channels-last,
TorchScript-traced and frozen (BN folded into the convolutions), and times forward
passes on random images. Speed does not depend on the weights' values, so the weights
are not loaded. --bf16 traces and runs under CPU bfloat16 autocast (where the CPU has
native bf16). Prints one JSON object: arch widths summary, batch, threads, precision,
ms_per_step (median), images_per_s.

Usage: python benchmarks/torch_pruned_bench.py --weights W.safetensors [--height 256]
       [--width 128] [--batch 32] [--threads 2] [--steps 20] [--warmup 3] [--no-freeze] [--bf16]
"""
import argparse
import json
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn


def architecture(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    meta = header.get("__metadata__", {})
    if "reidprune.architecture" not in meta:
        sys.exit(f"{path}: no reidprune.architecture metadata (not a reidprune model file)")
    return json.loads(meta["reidprune.architecture"])


def conv_bn(c, k, kernel, stride=1, relu=True):
    layers = [nn.Conv2d(c, k, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(k)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, kind, c, spec, width):
        super().__init__()
        s = spec["stride"]
        if kind == "bottleneck":
            a, b = spec["inner"]
            self.branch = nn.Sequential(conv_bn(c, a, 1), conv_bn(a, b, 3, s), conv_bn(b, width, 1, relu=False))
        else:
            (a,) = spec["inner"]
            self.branch = nn.Sequential(conv_bn(c, a, 3, s), conv_bn(a, width, 3, relu=False))
        self.down = conv_bn(c, width, 1, s, relu=False) if spec["hasDownsample"] else None

    def forward(self, x):
        return torch.relu(self.branch(x) + (self.down(x) if self.down is not None else x))


class Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        stem = arch["stemWidth"]
        self.stem = nn.Sequential(conv_bn(3, stem, 7, 2), nn.MaxPool2d(3, 2, 1))
        blocks, c = [], stem
        for stage in arch["stages"]:
            for spec in stage["blocks"]:
                blocks.append(Block(arch["block"], c, spec, stage["width"]))
                c = stage["width"]
        self.blocks = nn.Sequential(*blocks)
        self.neck = nn.BatchNorm1d(c)

    def forward(self, x):
        return self.neck(self.blocks(self.stem(x)).mean((2, 3)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-freeze", action="store_true")
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    arch = architecture(a.weights)
    net = Net(arch).eval().requires_grad_(False).to(memory_format=torch.channels_last)
    x = torch.randn(a.batch, 3, a.height, a.width).to(memory_format=torch.channels_last)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16)
    with torch.no_grad(), autocast:
        model = net if a.no_freeze else torch.jit.freeze(torch.jit.trace(net, x))
        for _ in range(a.warmup):
            model(x)
        times = []
        for _ in range(a.steps):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1e3
    inner = [w for s in arch["stages"] for b in s["blocks"] for w in b["inner"]]
    print(json.dumps({"weights": a.weights, "inner_widths": inner, "residual_widths": [s["width"] for s in arch["stages"]],
                      "last_stride": arch["stages"][-1]["blocks"][0]["stride"], "height": a.height, "width": a.width,
                      "batch": a.batch, "threads": a.threads, "frozen": not a.no_freeze, "torch": torch.__version__,
                      "precision": "bf16" if a.bf16 else "fp32",
                      "ms_per_step": ms, "images_per_s": a.batch / ms * 1e3}, sort_keys=True))


if __name__ == "__main__":
    main()
