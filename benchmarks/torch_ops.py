#!/usr/bin/env python3
"""PyTorch reference for `reidprune bench ops`: forward, backward-data and
backward-weights of every distinct ResNet-50 convolution at 256x128, batch 32,
channels-last, with the given thread count; per-shape median ms and GFLOP/s, and the
network totals (shapes weighted by how often ResNet-50 uses them), the same way
reidprune reports them. Also sgemm 1024^3 (torch.mm).

Usage: python benchmarks/torch_ops.py [--threads 2] [--repeats 5] [--json]
"""
import argparse
import json
import statistics
import time

import torch


def resnet50_convs(h, w, n):
    found, order = {}, []

    def add(g):
        if g not in found:
            order.append(g)
            found[g] = 0
        found[g] += 1

    def out(s, k, st, p):
        return (s + 2 * p - k) // st + 1

    add((n, 3, h, w, 64, 7, 2, 3))
    h, w = out(out(h, 7, 2, 3), 3, 2, 1), out(out(w, 7, 2, 3), 3, 2, 1)
    inc = 64
    for stage, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for b in range(blocks):
            st = 2 if (b == 0 and stage > 0) else 1
            add((n, inc, h, w, planes, 1, 1, 0))
            add((n, planes, h, w, planes, 3, st, 1))
            oh, ow = out(h, 3, st, 1), out(w, 3, st, 1)
            add((n, planes, oh, ow, planes * 4, 1, 1, 0))
            if b == 0:
                add((n, inc, h, w, planes * 4, 1, st, 0))
            inc, h, w = planes * 4, oh, ow
    return [(g, found[g]) for g in order]


def median(fn, repeats):
    fn(); fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    totals = {}
    rows = []
    with torch.no_grad():
        for (n, c, h, w, k, ks, st, p), count in resnet50_convs(256, 128, 32):
            x = torch.randn(n, c, h, w).contiguous(memory_format=torch.channels_last)
            wt = torch.randn(k, c, ks, ks).contiguous(memory_format=torch.channels_last)
            y = torch.nn.functional.conv2d(x, wt, None, st, p)
            dy = torch.randn_like(y).contiguous(memory_format=torch.channels_last)
            oh, ow = y.shape[2], y.shape[3]
            flops = 2.0 * n * oh * ow * k * c * ks * ks
            passes = {
                "forward": lambda: torch.nn.functional.conv2d(x, wt, None, st, p),
                "backward_data": lambda: torch.ops.aten.convolution_backward(
                    dy, x, wt, None, [st, st], [p, p], [1, 1], False, [0, 0], 1, [True, False, False]),
                "backward_weights": lambda: torch.ops.aten.convolution_backward(
                    dy, x, wt, None, [st, st], [p, p], [1, 1], False, [0, 0], 1, [False, True, False]),
            }
            shape = f"N{n} C{c} {h}x{w} -> K{k} k{ks}x{ks} s{st} p{p}"
            for name, fn in passes.items():
                t = median(fn, a.repeats)
                rows.append({"op": "conv", "pass": name, "shape": shape, "count": count, "ms": t * 1e3,
                             "gflops": flops / t / 1e9, "layout": "channels_last", "implementation": "pytorch"})
                tf, tt = totals.get(name, (0.0, 0.0))
                totals[name] = (tf + flops * count, tt + t * count)
        for name, (tf, tt) in totals.items():
            rows.append({"op": "conv", "pass": name, "shape": "resnet50 total 256x128 batch 32", "count": 1,
                         "ms": tt * 1e3, "gflops": tf / tt / 1e9, "layout": "channels_last",
                         "implementation": "pytorch " + torch.__version__})
        m = torch.randn(1024, 1024)
        t = median(lambda: torch.mm(m, m), a.repeats)
        rows.append({"op": "sgemm", "pass": "forward", "shape": "1024x1024x1024", "count": 1, "ms": t * 1e3,
                     "gflops": 2 * 1024 ** 3 / t / 1e9, "layout": "-", "implementation": "torch.mm"})
    for r in rows:
        if a.json:
            print(json.dumps(r, sort_keys=True))
        elif "total" in r["shape"] or r["op"] == "sgemm":
            print(f"{r['op']:6s}{r['pass']:18s}{r['shape']:40s}{r['ms']:10.2f} ms {r['gflops']:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
