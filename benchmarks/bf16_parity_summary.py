#!/usr/bin/env python3
"""Table of a bf16_parity.sh study (synthetic data): per architecture and precision, rank-1 and
mAP of each seed, their mean and range, and bf16's mean minus fp32's beside fp32's seed spread
(max - min), so a difference is read against seed noise: whether it is within one point either
way, at most one point below fp32, and within fp32's seed spread.
    python3 benchmarks/bf16_parity_summary.py OUT
"""
import json
import os
import re
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bf16_parity_summary.py OUT")
    out = sys.argv[1]
    runs = {}
    for name in sorted(os.listdir(out)):
        m = re.fullmatch(r"(.+)-(fp32|bf16)-seed(\d+)", name)
        path = os.path.join(out, name, "results.json")
        if not m or not os.path.isfile(path):
            continue
        with open(path) as f:
            r = json.load(f)
        runs.setdefault(m.group(1), {}).setdefault(m.group(2), []).append(
            (int(m.group(3)), 100 * r["rank1"], 100 * r["mAP"]))
    if not runs:
        sys.exit(f"bf16_parity_summary: no finished runs under {out}")
    print("SynthReID (synthetic data), demo recipe; rank-1 / mAP in %, seeds in order\n")
    print("| arch | precision | rank-1 per seed | rank-1 mean (range) | mAP per seed | mAP mean (range) |")
    print("|---|---|---|---|---|---|")
    for arch in sorted(runs):
        for precision in ("fp32", "bf16"):
            rs = sorted(runs[arch].get(precision, []))
            if not rs:
                continue
            r1 = [r[1] for r in rs]
            ap = [r[2] for r in rs]
            print(f"| {arch} | {precision} | {', '.join(f'{x:.1f}' for x in r1)} | "
                  f"{sum(r1) / len(r1):.1f} ({min(r1):.1f}-{max(r1):.1f}) | {', '.join(f'{x:.1f}' for x in ap)} | "
                  f"{sum(ap) / len(ap):.1f} ({min(ap):.1f}-{max(ap):.1f}) |")
    print()
    for arch in sorted(runs):
        fp, bf = runs[arch].get("fp32", []), runs[arch].get("bf16", [])
        if not fp or not bf:
            continue
        for i, metric in ((1, "rank-1"), (2, "mAP")):
            f = [r[i] for r in fp]
            b = [r[i] for r in bf]
            d = sum(b) / len(b) - sum(f) / len(f)
            spread = max(f) - min(f)
            print(f"{arch} {metric}: bf16 - fp32 = {d:+.1f} points (means of {len(b)} and {len(f)} seeds); "
                  f"fp32 seed spread {spread:.1f} points; "
                  f"{'within' if abs(d) <= 1.0 else 'NOT within'} one point either way; "
                  f"{'at most' if d >= -1.0 else 'MORE than'} one point below fp32; "
                  f"|difference| {'within' if abs(d) <= spread else 'outside'} fp32's seed spread")


if __name__ == "__main__":
    main()
