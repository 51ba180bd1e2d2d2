#!/usr/bin/env python3
"""Runs `reidprune bench train|infer` and benchmarks/torch_bench.py alternately, several
rounds, and prints the median images/s and peak RSS of each with the ratio, so that
both are measured in the same session under the same machine load.

Usage: python benchmarks/compare.py train|infer [--rounds 3] [--steps 8]
       [--reidprune .build/release/reidprune] [any bench option: --arch --height --width --batch --threads]
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
    a = ap.parse_args()
    common = ["--arch", a.arch, "--height", a.height, "--width", a.width, "--batch", a.batch,
              "--threads", a.threads, "--steps", str(a.steps), "--json"]
    here = os.path.dirname(os.path.abspath(__file__))
    runs = {"reidprune": [], "pytorch": []}
    for _ in range(a.rounds):
        for name, cmd in [("reidprune", [a.reidprune, "bench", a.mode] + common),
                          ("pytorch", [sys.executable, os.path.join(here, "torch_bench.py"), a.mode] + common)]:
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            runs[name].append(json.loads(out))
    med = {k: (statistics.median(r["images_per_s"] for r in v), statistics.median(r["peak_rss_mb"] for r in v))
           for k, v in runs.items()}
    print(f"{a.mode} {a.arch} {a.height}x{a.width} batch {a.batch}, {a.threads} threads, "
          f"median of {a.rounds} alternating rounds x {a.steps} steps")
    for k, (ips, rss) in med.items():
        print(f"  {k:10s} {ips:8.2f} images/s  peak RSS {rss:6.0f} MB   runs: "
              + ", ".join(f"{r['images_per_s']:.2f}" for r in runs[k]))
    print(f"  ratio      {med['reidprune'][0] / med['pytorch'][0]:.2f}x images/s, "
          f"{med['reidprune'][1] / med['pytorch'][1]:.2f}x peak RSS")


if __name__ == "__main__":
    main()
