#!/usr/bin/env python3
"""Markdown table of benchmarks/latency_pruning.sh's JSON lines: per last stride and batch,
each variant's FLOPs kept (from its prune log), ReIDPrune's and PyTorch's ms per batch
and their speedups over the unpruned model measured in the same run.

Usage: python benchmarks/latency_summary.py OUT/results.jsonl OUT
       (OUT: the folder latency_pruning.sh wrote its models and logs to)
"""
import json
import re
import sys


def flops_kept(out, variant, ls, batch):
    name = {"flops-0.5": f"ls{ls}-flops", "flops-0.5+round_to-auto": f"ls{ls}-b{batch}-flops-auto",
            "latency-0.5": f"ls{ls}-b{batch}-latency"}.get(variant)
    if name is None:
        return "100%"
    try:
        text = open(f"{out}/{name}.log").read()
    except OSError:
        return "?"
    m = re.search(r"GFLOPs \(([0-9.]+)%\)", text)
    return f"{m.group(1)}%" if m else "?"


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    out = sys.argv[2]
    base = {(r["last_stride"], r["batch"]): r for r in rows if r["variant"] == "unpruned"}
    print("| last stride | batch | plan | FLOPs kept | reidprune ms | speedup | PyTorch ms | speedup |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = base[(r["last_stride"], r["batch"])]
        ours, torch = r["reidprune"]["ms_per_step"], r["torch"]["ms_per_step"]
        print(f"| {r['last_stride']} | {r['batch']} | {r['variant']} | {flops_kept(out, r['variant'], r['last_stride'], r['batch'])} "
              f"| {ours:.1f} | {b['reidprune']['ms_per_step'] / ours:.2f}x | {torch:.1f} | {b['torch']['ms_per_step'] / torch:.2f}x |")


if __name__ == "__main__":
    main()
