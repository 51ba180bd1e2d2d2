#!/usr/bin/env python3
"""Runs `reidprune bench train|infer` and benchmarks/torch_bench.py alternately, several
rounds, and prints the median images/s and peak RSS of each with the ratio, so that
both are measured in the same session under the same machine load.

PyTorch runs channels-last in fp32 and, with --torch-bf16, also under bfloat16
autocast (and, for inference, TorchScript-frozen): the strongest paths to compare
with. --bf16 measures both sides in bfloat16 as well: `reidprune bench --precision
bf16` beside PyTorch's bf16 autocast (frozen too, for inference), with their ratio.
--last-stride 1|2 (default 2, torchvision's structure) is passed to both sides.
--baseline PATH adds another reidprune build (an earlier commit's), run in the
same rounds, to check a change for speed.

Usage: python benchmarks/compare.py train|infer [--rounds 3] [--steps 8] [--last-stride 2]
       [--bf16] [--torch-bf16] [--reidprune .build/release/reidprune] [--baseline OTHER/reidprune]
       [any bench option: --arch --height --width --batch --threads]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "infer"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--reidprune", default=".build/release/reidprune")
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--height", default="256")
    ap.add_argument("--width", default="128")
    ap.add_argument("--batch", default="32")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--baseline")
    ap.add_argument("--torch-bf16", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="also reidprune --precision bf16 against PyTorch bf16 autocast")
    ap.add_argument("--last-stride", default="2", choices=["1", "2"])
    a = ap.parse_args()
    common = ["--arch", a.arch, "--height", a.height, "--width", a.width, "--batch", a.batch,
              "--threads", a.threads, "--steps", str(a.steps), "--last-stride", a.last_stride, "--json"]
    here = os.path.dirname(os.path.abspath(__file__))
    torch = [sys.executable, os.path.join(here, "torch_bench.py"), a.mode] + common
    commands = [("reidprune", [a.reidprune, "bench", a.mode] + common)]
    if a.baseline:
        commands.append(("baseline", [a.baseline, "bench", a.mode] + common))
    if a.bf16:
        commands.append(("reidprune-bf16", [a.reidprune, "bench", a.mode] + common + ["--precision", "bf16"]))
    commands.append(("pytorch", torch))
    if a.torch_bf16 or a.bf16:
        commands.append(("pytorch-bf16", torch + ["--bf16"] + (["--frozen"] if a.mode == "infer" else [])))
    if a.mode == "infer":
        commands.append(("pytorch-frozen", torch + ["--frozen"]))
    runs = {name: [] for name, _ in commands}
    for _ in range(a.rounds):
        for name, cmd in commands:
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            runs[name].append(json.loads(out))
    med = {k: (statistics.median(r["images_per_s"] for r in v), statistics.median(r["peak_rss_mb"] for r in v))
           for k, v in runs.items()}
    print(f"{a.mode} {a.arch} {a.height}x{a.width} batch {a.batch}, last stride {a.last_stride}, {a.threads} threads, "
          f"median of {a.rounds} alternating rounds x {a.steps} steps")
    for k, (ips, rss) in med.items():
        print(f"  {k:14s} {ips:8.2f} images/s  peak RSS {rss:6.0f} MB   runs: "
              + ", ".join(f"{r['images_per_s']:.2f}" for r in runs[k]))
    for ours in [k for k in ("reidprune", "reidprune-bf16") if k in med]:
        for k in med:
            if not k.startswith("reidprune"):
                print(f"  {ours} / {k}: {med[ours][0] / med[k][0]:.2f}x images/s, "
                      f"{med[ours][1] / med[k][1]:.2f}x peak RSS")
    if "reidprune-bf16" in med:
        print(f"  reidprune-bf16 / reidprune: {med['reidprune-bf16'][0] / med['reidprune'][0]:.2f}x images/s")


if __name__ == "__main__":
    main()
