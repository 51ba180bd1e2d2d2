#!/usr/bin/env python3
"""Markdown table of benchmarks/latency_pruning.sh's JSON lines: per last stride and batch,
each variant's FLOPs kept (from its prune log), ReIDPrune's and PyTorch's ms per batch
(the median over the script's interleaved rounds, with the range) and their speedups
over the unpruned model's median measured in the same rounds.

Usage: python benchmarks/latency_summary.py OUT/results.jsonl OUT
       (OUT: the folder latency_pruning.sh wrote its models and logs to)
"""
import json
import re
import sys
from statistics import median


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
    times = {}  # (last stride, batch, variant) -> ([reidprune ms], [torch ms]) over the rounds
    for r in rows:
        key = (r["last_stride"], r["batch"], r["variant"])
        times.setdefault(key, ([], []))
        times[key][0].append(r["reidprune"]["ms_per_step"])
        times[key][1].append(r["torch"]["ms_per_step"])

    def cell(values):
        m = median(values)
        return f"{m:.1f}" if len(values) == 1 else f"{m:.1f} ({min(values):.1f}-{max(values):.1f})", m

    print("| last stride | batch | plan | FLOPs kept | reidprune ms | speedup | PyTorch ms | speedup |")
    print("|---|---|---|---|---|---|---|---|")
    for (ls, batch, variant), (ours, torch) in times.items():
        base_ours, base_torch = times[(ls, batch, "unpruned")]
        (ours_text, ours_ms), (torch_text, torch_ms) = cell(ours), cell(torch)
        print(f"| {ls} | {batch} | {variant} | {flops_kept(out, variant, ls, batch)} | {ours_text} "
              f"| {median(base_ours) / ours_ms:.2f}x | {torch_text} | {median(base_torch) / torch_ms:.2f}x |")


if __name__ == "__main__":
    main()
