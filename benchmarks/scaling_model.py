#!/usr/bin/env python3
"""Predicted data-parallel scaling efficiency from measured numbers: compute time per
step on one node (images per step / measured images/s) against a ring allreduce of the
gradients, 2 (n - 1) / n x bytes / bandwidth + 2 (n - 1) x latency, blocking (no
overlap), on 10, 25 and 100 Gb/s networks.

With --epoch-images N (ImageNet's training split: 1281167), it also prints the predicted
time of one epoch over N images on each node count: N / (nodes x images/s x efficiency).

Usage: python benchmarks/scaling_model.py --images-per-s 21.8 --batch-per-node 32 --gradient-mb 102.5
       python benchmarks/scaling_model.py --images-per-s R --batch-per-node 32 --gradient-mb 102.2 --epoch-images 1281167
"""
import argparse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images-per-s", type=float, required=True, help="one node's training throughput")
    ap.add_argument("--batch-per-node", type=int, required=True)
    ap.add_argument("--gradient-mb", type=float, required=True)
    ap.add_argument("--latency-us", type=float, default=10.0, help="per message hop")
    ap.add_argument("--epoch-images", type=int, help="also predict the time of one epoch over this many images")
    a = ap.parse_args()
    compute = a.batch_per_node / a.images_per_s
    nodes = [2, 4, 8, 16, 32, 64]
    print(f"compute {compute * 1e3:.0f} ms per step; gradients {a.gradient_mb:.1f} MB")
    print("| network | " + " | ".join(f"{n} nodes" for n in nodes) + " |")
    print("|---|" + "---|" * len(nodes))
    def efficiency(n, gbps):
        comm = 2 * (n - 1) / n * a.gradient_mb * 1e6 / (gbps / 8 * 1e9) + 2 * (n - 1) * a.latency_us * 1e-6
        return compute / (compute + comm)

    for gbps in [10, 25, 100]:
        print(f"| {gbps} Gb/s | " + " | ".join(f"{100 * efficiency(n, gbps):.1f}%" for n in nodes) + " |")
    if a.epoch_images:
        print()
        print(f"one epoch of {a.epoch_images} images (hours; 1 node: {a.epoch_images / a.images_per_s / 3600:.1f} h)")
        print("| network | " + " | ".join(f"{n} nodes" for n in nodes) + " |")
        print("|---|" + "---|" * len(nodes))
        for gbps in [10, 25, 100]:
            cells = [f"{a.epoch_images / (n * a.images_per_s * efficiency(n, gbps)) / 3600:.2f}" for n in nodes]
            print(f"| {gbps} Gb/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
