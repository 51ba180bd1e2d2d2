#!/usr/bin/env python3
"""Predicted data-parallel scaling efficiency from measured numbers: compute time per
step on one node (images per step / measured images/s) against a blocking (no overlap)
allreduce of the gradients on 10, 25 and 100 Gb/s networks. The allreduce costs
2 ceil(log2 n) x (bytes / bandwidth + latency) (reduce then broadcast, which is how Open
MPI's allreduce measured on the simulated cluster), or with --algorithm ring the
bandwidth-optimal bound 2 (n - 1) / n x bytes / bandwidth + 2 (n - 1) x latency.

With --epoch-images N (ImageNet's training split: 1281167), it also prints the predicted
time of one epoch over N images on each node count: N / (nodes x images/s x efficiency).

Usage: python benchmarks/scaling_model.py --images-per-s 21.8 --batch-per-node 32 --gradient-mb 102.5
       python benchmarks/scaling_model.py --images-per-s R --batch-per-node 32 --gradient-mb 102.2 --epoch-images 1281167
       python benchmarks/scaling_model.py --sync-only --nodes 3 --gbps 1 --mb 102.5
(the third prints the predicted seconds of one blocking allreduce of --mb megabytes,
as JSON; cluster/sim/scaling sets it beside the time measured on the simulated network)
"""
import argparse
import json
import math


def ring_allreduce_seconds(nodes, megabytes, gbps, latency_us):
    """Seconds of a ring allreduce of `megabytes` MB over `nodes` nodes on `gbps` links:
    the bandwidth-optimal bound."""
    if nodes < 2:
        return 0.0
    return 2 * (nodes - 1) / nodes * megabytes * 1e6 / (gbps / 8 * 1e9) + 2 * (nodes - 1) * latency_us * 1e-6


def tree_allreduce_seconds(nodes, megabytes, gbps, latency_us):
    """Seconds of a reduce to one rank then a broadcast, each over a binomial tree of
    ceil(log2 n) rounds that move the whole buffer: 2 ceil(log2 n) (bytes / bandwidth +
    latency). Open MPI's allreduce over TCP behaved like this on the simulated cluster
    (cluster/sim/scaling: within 25% where the ring bound missed by 50-250%)."""
    if nodes < 2:
        return 0.0
    rounds = math.ceil(math.log2(nodes))
    return 2 * rounds * (megabytes * 1e6 / (gbps / 8 * 1e9) + latency_us * 1e-6)


def allreduce_seconds(nodes, megabytes, gbps, latency_us, algorithm="tree"):
    """The model's allreduce time: "tree" (what Open MPI measured like, the default) or "ring"."""
    f = tree_allreduce_seconds if algorithm == "tree" else ring_allreduce_seconds
    return f(nodes, megabytes, gbps, latency_us)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images-per-s", type=float, help="one node's training throughput")
    ap.add_argument("--batch-per-node", type=int)
    ap.add_argument("--gradient-mb", type=float)
    ap.add_argument("--latency-us", type=float, default=10.0, help="per message hop")
    ap.add_argument("--algorithm", choices=["tree", "ring"], default="tree",
                    help="allreduce cost: tree (reduce + broadcast, as Open MPI measured on TCP) or ring (the bound)")
    ap.add_argument("--sync-only", action="store_true", help="predict one allreduce of --mb MB on --nodes at --gbps")
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--gbps", type=float)
    ap.add_argument("--mb", type=float)
    ap.add_argument("--epoch-images", type=int, help="also predict the time of one epoch over this many images")
    a = ap.parse_args()
    if a.sync_only:
        if a.nodes is None or a.gbps is None or a.mb is None:
            ap.error("--sync-only needs --nodes, --gbps and --mb")
        seconds = allreduce_seconds(a.nodes, a.mb, a.gbps, a.latency_us, a.algorithm)
        print(json.dumps({"nodes": a.nodes, "gbps": a.gbps, "mb": a.mb, "latency_us": a.latency_us, "seconds": seconds,
                          "bus_gb_per_s": a.gbps / 8 if a.nodes > 1 else 0.0}))
        return
    if a.images_per_s is None or a.batch_per_node is None or a.gradient_mb is None:
        ap.error("--images-per-s, --batch-per-node and --gradient-mb are required (or --sync-only)")
    compute = a.batch_per_node / a.images_per_s
    nodes = [2, 4, 8, 16, 32, 64]
    print(f"compute {compute * 1e3:.0f} ms per step; gradients {a.gradient_mb:.1f} MB")
    print("| network | " + " | ".join(f"{n} nodes" for n in nodes) + " |")
    print("|---|" + "---|" * len(nodes))
    def efficiency(n, gbps):
        comm = allreduce_seconds(n, a.gradient_mb, gbps, a.latency_us, a.algorithm)
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
