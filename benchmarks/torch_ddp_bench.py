#!/usr/bin/env python3
"""PyTorch DistributedDataParallel reference for `reidprune bench train` on several ranks.

The training step of benchmarks/torch_bench.py (torchvision ResNet, re-ID head, label-smoothed
cross-entropy + batch-hard triplet, Adam, channels-last, random data) wrapped in DDP over the
gloo backend (TCP), optionally with `bf16_compress_hook` (gradients sent in bfloat16, as
reidprune's `distributed.gradient_precision: bf16`). DDP overlaps the bucketed allreduce
with backward, like reidprune's `--sync overlapped`. Rank and world come from the
environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Rank 0 prints one JSON object:
ms_per_step (median), images_per_s of the global batch, compress.

Usage (one process per rank): RANK=r WORLD_SIZE=n MASTER_ADDR=A MASTER_PORT=P
       python benchmarks/torch_ddp_bench.py [--arch resnet50] [--batch 32] [--threads 1]
       [--steps 6] [--warmup 2] [--last-stride 2] [--bf16-compress]
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel

from torch_bench import reid_model, triplet


class Net(nn.Module):
    """The re-ID model as one module for DDP: images -> (features, logits)."""

    def __init__(self, parts):
        super().__init__()
        self.parts = parts

    def forward(self, x):
        f = self.parts["backbone"](x)
        return f, self.parts["classifier"](self.parts["bnneck"](f))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32, help="global batch, split over the ranks")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--last-stride", type=int, choices=[1, 2], default=2)
    ap.add_argument("--bf16-compress", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = DistributedDataParallel(Net(reid_model(a.arch, a.last_stride)))
    if a.bf16_compress:
        model.register_comm_hook(dist.group.WORLD, default_hooks.bf16_compress_hook)
    per = a.batch // world
    x = torch.randn(per, 3, a.height, a.width).contiguous(memory_format=torch.channels_last)
    classes = max(2, a.batch // 4)
    labels = (torch.arange(per) + rank * per) * classes // a.batch
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3.5e-4, weight_decay=5e-4)
    times = []
    for i in range(a.warmup + a.steps):
        dist.barrier()
        t0 = time.perf_counter()
        f, logits = model(x)
        loss = F.cross_entropy(logits, labels, label_smoothing=0.1) + triplet(f, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    if rank == 0:
        print(json.dumps({"ranks": world, "batch": a.batch, "threads": a.threads, "compress": a.bf16_compress,
                          "ms_per_step": median * 1e3, "images_per_s": a.batch / median}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
