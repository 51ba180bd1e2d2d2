#!/usr/bin/env python3
"""PyTorch reference for `reidprune bench train|infer`, with the same arguments.

Measures images/s of a full training step (forward, label-smoothed cross-entropy and
batch-hard triplet losses, backward, Adam step) or of inference, for a torchvision
ResNet with the re-ID head (BNNeck, 751-way bias-free classifier), channels-last, on
random data, and the process's peak RSS. Prints one line, or one JSON object with
--json (keys as reidprune's: images_per_s, ms_per_step, peak_rss_mb).
--bf16 runs under CPU bfloat16 autocast (worth it where the CPU has native bf16,
avx512_bf16 or AMX); --frozen (inference) runs the TorchScript-traced, frozen model.
--last-stride 1 runs layer4 at stride 1 (the re-ID "last stride" trick, a feature map of
H/16 x W/16), 2 keeps torchvision's structure; reidprune bench takes the same option.
--task classification measures torchvision's own classifier instead (`fc` over 1000
classes, label-smoothed cross-entropy, SGD with momentum 0.9, lr 0.1, weight decay 1e-4),
as `reidprune bench train --task classification`; --size N sets height and width.

Usage: python benchmarks/torch_bench.py train|infer [--arch resnet50] [--height 256]
       [--width 128] [--size N] [--task reid|classification] [--batch 32] [--threads 2]
       [--steps 5] [--last-stride 1|2] [--bf16] [--frozen] [--json]
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "infer"])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--size", type=int, help="square input: sets --height and --width")
    ap.add_argument("--task", choices=["reid", "classification"], default="reid")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--last-stride", type=int, choices=[1, 2], default=2)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--frozen", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.size:
        a.height = a.width = a.size
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    if a.task == "classification":
        return classification(a, autocast)
    model = reid_model(a.arch, a.last_stride)
    x = torch.randn(a.batch, 3, a.height, a.width).contiguous(memory_format=torch.channels_last)
    classes = max(2, a.batch // 4)
    labels = torch.arange(a.batch) * classes // a.batch
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3.5e-4, weight_decay=5e-4)

    def train_step():
        model.train()
        with autocast:
            f = model["backbone"](x)
            logits = model["classifier"](model["bnneck"](f))
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=0.1) + triplet(f.float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    embed = nn.Sequential(model["backbone"], model["bnneck"]).eval()
    if a.frozen and a.mode == "infer":
        for p in embed.parameters():
            p.requires_grad_(False)
        with torch.no_grad(), autocast:
            embed = torch.jit.freeze(torch.jit.trace(embed, x))

    def infer_step():
        with torch.inference_mode(), autocast:
            embed(x)

    report(a, train_step if a.mode == "train" else infer_step)


def reid_model(arch, last_stride):
    """A torchvision ResNet with the re-ID head (BNNeck with a fixed shift, 751-way
    bias-free classifier) as a ModuleDict of backbone, bnneck and classifier, channels-last."""
    backbone = set_last_stride(getattr(torchvision.models, arch)(), last_stride)
    dim = backbone.fc.in_features
    backbone.fc = nn.Identity()
    bnneck = nn.BatchNorm1d(dim)
    bnneck.bias.requires_grad_(False)
    classifier = nn.Linear(dim, 751, bias=False)
    model = nn.ModuleDict({"backbone": backbone, "bnneck": bnneck, "classifier": classifier})
    return model.to(memory_format=torch.channels_last)


def triplet(f, y, margin=0.3):
    """Batch-hard triplet loss on features f (N, D) with labels y (N)."""
    n = f.size(0)
    sq = f.pow(2).sum(1, keepdim=True).expand(n, n)
    dist = (sq + sq.t() - 2 * f @ f.t()).clamp(min=1e-12).sqrt()
    same = y.expand(n, n).eq(y.expand(n, n).t())
    ap_ = (dist * same.float()).max(1).values
    an = (dist + same.float() * 1e6).min(1).values
    return F.relu(ap_ - an + margin).mean()


def set_last_stride(net, stride):
    """layer4's first block at `stride`: its strided 3x3 (Bottleneck conv2, BasicBlock
    conv1) and its downsample 1x1, as reidprune's last_stride does."""
    block = net.layer4[0]
    strided = block.conv2 if isinstance(block, torchvision.models.resnet.Bottleneck) else block.conv1
    strided.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)
    return net


def classification(a, autocast):
    """torchvision's ResNet with its 1000-class fc: SGD training or inference steps."""
    model = set_last_stride(getattr(torchvision.models, a.arch)(num_classes=1000), a.last_stride)
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(a.batch, 3, a.height, a.width).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (a.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

    def train_step():
        model.train()
        with autocast:
            logits = model(x)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer_step():
        model.eval()
        with torch.inference_mode(), autocast:
            model(x)

    report(a, train_step if a.mode == "train" else infer_step)


def report(a, step):
    for _ in range(2):
        step()
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    r = {"mode": a.mode, "arch": a.arch, "height": a.height, "width": a.width, "batch": a.batch,
         "threads": a.threads, "steps": a.steps, "images_per_s": a.batch / med, "ms_per_step": med * 1e3,
         "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
         "torch": torch.__version__, "bf16": a.bf16, "frozen": a.frozen, "task": a.task,
         "last_stride": a.last_stride, "precision": "bf16" if a.bf16 else "fp32"}
    if a.json:
        print(json.dumps(r, sort_keys=True))
    else:
        path = ("bf16 autocast " if a.bf16 else "") + ("frozen " if a.frozen else "")
        print(f"pytorch {path}{a.mode} {a.arch}{' classification (fc 1000)' if a.task == 'classification' else ''} {a.height}x{a.width} batch {a.batch}, last stride {a.last_stride}, {a.threads} threads: "
              f"{r['images_per_s']:.2f} images/s ({r['ms_per_step']:.1f} ms/step), peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
