#!/usr/bin/env python3
"""Inference speedup of reidprune model files over the first one, timed in turn.

    python3 benchmarks/speedup_rounds.py --batch 32 --rounds 5 UNPRUNED.safetensors PRUNED.safetensors ...

Each round runs `reidprune bench infer --weights W` for every file in the order given, so
that a slow minute of a shared host hits all of them alike; the table gives each file's
median ms per batch over the rounds, its range, and the first file's median divided by
its median. --json-out appends every timing as a JSON line.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="reidprune model files; the first is the reference")
    ap.add_argument("--bin", default=".build/release/reidprune")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, help="timed steps per run (default 10 at batch >= 8, else 60)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    if len(a.models) < 2:
        sys.exit("speedup_rounds: give a reference model and at least one other")
    for m in a.models:
        if not os.path.isfile(m):
            sys.exit(f"speedup_rounds: {m}: no such file")
    steps = a.steps or (10 if a.batch >= 8 else 60)
    times = {m: [] for m in a.models}
    for r in range(1, a.rounds + 1):
        for m in a.models:
            cmd = [a.bin, "bench", "infer", "--weights", m, "--height", str(a.height), "--width", str(a.width),
                   "--batch", str(a.batch), "--threads", str(a.threads), "--steps", str(steps),
                   "--precision", a.precision, "--json"]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"speedup_rounds: {m}: {p.stderr.strip() or p.stdout.strip()}")
            res = json.loads(p.stdout)
            times[m].append(res["ms_per_step"])
            if a.json_out:
                with open(a.json_out, "a") as f:
                    f.write(json.dumps({"round": r, "model": m, "batch": a.batch, "result": res}) + "\n")
    ref = statistics.median(times[a.models[0]])
    print(f"batch {a.batch}, {a.height}x{a.width}, {a.threads} threads, {a.precision}, {a.rounds} rounds of {steps} steps")
    print("| model | median ms | range | speedup |")
    print("|---|---|---|---|")
    for m in a.models:
        t = times[m]
        med = statistics.median(t)
        print(f"| {os.path.basename(m)} | {med:.1f} | {min(t):.1f}-{max(t):.1f} | {ref / med:.2f}x |")


if __name__ == "__main__":
    main()
