#!/usr/bin/env python3
"""Predicted data-parallel scaling efficiency from measured numbers: compute time per
step on one node (images per step / measured images/s) against a ring allreduce of the
gradients, 2 (n - 1) / n x bytes / bandwidth + 2 (n - 1) x latency, blocking (no
overlap), on 10, 25 and 100 Gb/s networks.

Usage: python benchmarks/scaling_model.py --images-per-s 21.8 --batch-per-node 32 --gradient-mb 102.5
"""
import argparse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images-per-s", type=float, required=True, help="one node's training throughput")
    ap.add_argument("--batch-per-node", type=int, required=True)
    ap.add_argument("--gradient-mb", type=float, required=True)
    ap.add_argument("--latency-us", type=float, default=10.0, help="per message hop")
    a = ap.parse_args()
    compute = a.batch_per_node / a.images_per_s
    nodes = [2, 4, 8, 16, 32, 64]
    print(f"compute {compute * 1e3:.0f} ms per step; gradients {a.gradient_mb:.1f} MB")
    print("| network | " + " | ".join(f"{n} nodes" for n in nodes) + " |")
    print("|---|" + "---|" * len(nodes))
    for gbps in [10, 25, 100]:
        bw = gbps / 8 * 1e9
        cells = []
        for n in nodes:
            comm = 2 * (n - 1) / n * a.gradient_mb * 1e6 / bw + 2 * (n - 1) * a.latency_us * 1e-6
            cells.append(f"{100 * compute / (compute + comm):.1f}%")
        print(f"| {gbps} Gb/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
