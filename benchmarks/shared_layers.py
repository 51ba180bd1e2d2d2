#!/usr/bin/env python3
"""How fast a pruned model can be next to its unpruned one, from where their inference time goes.

    python3 benchmarks/shared_layers.py --batch 1 --rounds 2 UNPRUNED.safetensors PRUNED.safetensors

Runs `reidprune bench infer --weights W` under DNNL_VERBOSE=1 for both files in turn (the
given number of rounds) and splits each pass into:
- the convolutions both models share: same channels, kernel, stride and map size at the same
  place in the network (the stem, the downsampling convolutions, and every convolution that
  the plan left whole);
- the pruned model's own convolutions (the rest), with their FLOPs;
- everything that is not a convolution and runs in every pass (pooling, activation
  reorders, the head's BN), from every pass but the first (the weights' one-time reorders
  run in it).
Each convolution's time is the mean over its calls in the network, so weights arrive as the
network leaves them (at batch 1 they stream from memory). It then prints, for the speedup
asked (--target, 1.9 by default), what the rest would have to reach: the unpruned model's
median wall time / target, less the pruned model's shared and non-convolution time, over the
rest's FLOPs, and the speedup if each of the rest ran as many GFLOP/s as the same place in
the unpruned network (the ceiling when pruning leaves the kernels' efficiency whole), with
the rest of a pass once from the unpruned model's runs and once from the pruned model's.
DNNL_VERBOSE adds about 2 ms per pass to both models alike (5-10% at batch 1): each round
also times both models without it, just before, and the ceiling takes the paired
difference off both walls.
Bottleneck ResNets written by reidprune only (their architecture is read from the file's
metadata). Python 3 standard library only.
"""
import argparse
import collections
import json
import os
import re
import statistics
import struct
import subprocess
import sys

VERBOSE = re.compile(r"mb(\d+)_ic(\d+)oc(\d+)_ih(\d+)oh\d+kh(\d+)sh(\d+)dh\d+ph\d+_iw(\d+)")


def architecture(path):
    """(last stride, [stage dicts]) from a reidprune safetensors file's metadata."""
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        meta = header.get("__metadata__", {})
    except (OSError, struct.error, ValueError, AttributeError) as e:
        sys.exit(f"shared_layers: {path}: not a readable safetensors file ({e})")
    if "reidprune.architecture" not in meta:
        sys.exit(f"shared_layers: {path}: no reidprune.architecture metadata (not a reidprune model file)")
    arch = json.loads(meta["reidprune.architecture"])
    if arch.get("block") != "bottleneck":
        sys.exit(f"shared_layers: {path}: block '{arch.get('block')}' is not bottleneck")
    return arch["stages"]


def convolutions(stages, height, width):
    """Every convolution of one pass in order: (place, key, FLOPs per image); key =
    (in channels, out channels, input height, input width, kernel, stride, residual sum)."""
    out = []

    def conv(place, c, k, h, w, ks, s, summed=False):
        p = ks // 2
        oh, ow = (h + 2 * p - ks) // s + 1, (w + 2 * p - ks) // s + 1
        out.append((place, (c, k, h, w, ks, s, summed), 2 * c * k * ks * ks * oh * ow))
        return oh, ow

    h, w = conv("stem", 3, 64, height, width, 7, 2)
    h, w = (h + 1) // 2, (w + 1) // 2  # 3x3 max pooling, stride 2, padding 1
    cin = 64
    for si, stage in enumerate(stages):
        for bi, block in enumerate(stage["blocks"]):
            a, b = block["inner"]
            s = block["stride"]
            name = f"layer{si + 1}.{bi}"
            conv(name + ".conv1", cin, a, h, w, 1, 1)
            oh, ow = conv(name + ".conv2", a, b, h, w, 3, s)
            if block["hasDownsample"]:
                conv(name + ".downsample", cin, stage["width"], h, w, 1, s)
            conv(name + ".conv3", b, stage["width"], oh, ow, 1, 1, summed=True)
            h, w, cin = oh, ow, stage["width"]
    return out


def bench(args, path, verbose):
    """(ms per pass, standard output) of `bench infer` on path, with DNNL_VERBOSE=1 or without it."""
    cmd = [args.bin, "bench", "infer", "--weights", path, "--batch", str(args.batch), "--height", str(args.height),
           "--width", str(args.width), "--threads", str(args.threads), "--steps", str(args.steps)]
    env = {k: v for k, v in os.environ.items() if k != "DNNL_VERBOSE"}
    if verbose:
        env["DNNL_VERBOSE"] = "1"
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"shared_layers: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    wall = re.search(r"\(([0-9.]+) ms/step\)", done.stdout + done.stderr)
    if not wall:
        sys.exit(f"shared_layers: no ms/step in the output of {' '.join(cmd)}")
    return float(wall.group(1)), done.stdout


def run(args, path):
    """Wall ms per pass and what DNNL_VERBOSE shows of the passes after the first: per
    convolution key [ms, images], per other primitive [ms, calls], and the images. The
    first pass is left out: the weights' one-time reorders (packing) run in it, and shapes
    shared by several layers would otherwise pass for per-pass work when the passes are few."""
    wall, stdout = bench(args, path, verbose=True)
    per_key = collections.defaultdict(lambda: [0.0, 0])
    other = collections.defaultdict(lambda: [0.0, 0])
    seen = images = 0  # stem images of every pass, and of the passes counted
    for line in stdout.splitlines():
        if not line.startswith("onednn_verbose,exec"):
            continue
        f = line.split(",")
        ms = float(f[-1])
        m = VERBOSE.match(f[-2]) if f[3] == "convolution" else None
        if m and int(m.group(2)) == 3:  # the stem, on the whole batch or a micro-batch
            seen += int(m.group(1))
            if seen > args.batch:
                images += int(m.group(1))
        if seen <= args.batch:
            continue
        if f[3] != "convolution":
            other[(f[3], f[-2])][0] += ms
            other[(f[3], f[-2])][1] += 1
            continue
        mb, ic, oc, ih, kh, sh, iw = map(int, m.groups())
        key = (ic, oc, ih, iw, kh, sh, "sum" in line)  # the residual sum is a post-op
        per_key[key][0] += ms
        per_key[key][1] += mb
    if images < args.batch:
        sys.exit(f"shared_layers: {path}: fewer than two passes in DNNL_VERBOSE's output (use --steps 2 or more)")
    return wall, per_key, other, images


def split(convs, shared, measured, batch):
    """ms per pass of the shared places, of the others, and the others' GFLOP per pass."""
    per_key, other, images = measured
    passes = images / batch
    other = sum(ms for ms, _ in other.values())
    uses = collections.Counter(key for _, key, _ in convs)
    t = {"shared": 0.0, "own": 0.0}
    own_flops = 0.0
    detail = []
    for place, key, flops in convs:
        ms, n = per_key.get(key, (0.0, 0))
        if n == 0:
            sys.exit(f"shared_layers: {place} {key} never ran (is --height/--width the model's?)")
        each = ms / passes / uses[key]
        t["shared" if place in shared else "own"] += each
        if place not in shared:
            own_flops += flops * batch / 1e9
        detail.append((place, key, each, flops * batch / 1e9))
    return t["shared"], t["own"], other / passes, own_flops, detail


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("unpruned")
    ap.add_argument("pruned")
    ap.add_argument("--bin", default=".build/release/reidprune")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="timed steps per run (default 10 at batch >= 8, else 60)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--target", type=float, default=1.9)
    ap.add_argument("--detail", action="store_true", help="also list the pruned model's own convolutions")
    args = ap.parse_args()
    if args.steps is None:
        args.steps = 10 if args.batch >= 8 else 60
    cu = convolutions(architecture(args.unpruned), args.height, args.width)
    cp = convolutions(architecture(args.pruned), args.height, args.width)
    if [p for p, _, _ in cu] != [p for p, _, _ in cp]:
        sys.exit("shared_layers: the two files have different blocks")
    shared = {p for (p, ku, _), (_, kp, _) in zip(cu, cp) if ku == kp}
    rows = {"unpruned": [], "pruned": []}
    plain = {"unpruned": [], "pruned": []}
    for _ in range(args.rounds):
        for name, path, convs in (("unpruned", args.unpruned, cu), ("pruned", args.pruned, cp)):
            plain[name].append(bench(args, path, verbose=False)[0])
            wall, *measured = run(args, path)
            rows[name].append((wall,) + split(convs, shared, measured, args.batch))
    print(f"batch {args.batch}, {args.height}x{args.width}, {args.threads} threads, {args.rounds} rounds, "
          f"DNNL_VERBOSE=1; ms per pass (median; range)\n")
    print("| model | wall | shared convolutions | own convolutions (GFLOP) | not convolutions |")
    print("|---|---|---|---|---|")
    med = {}
    for name in ("unpruned", "pruned"):
        cols = list(zip(*rows[name]))[:5]
        med[name] = [statistics.median(c) for c in cols]
        cells = [f"{statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f})" for c in cols[:4]]
        print(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} ({med[name][4]:.3f}) | {cells[3]} |")
    u, p = med["unpruned"], med["pruned"]
    allowed = u[0] / args.target - p[1] - p[3]
    print(f"\nmeasured speedup {u[0] / p[0]:.2f}x. {args.target}x needs the pruned model in {u[0] / args.target:.2f} ms: "
          f"its shared convolutions and what is not a convolution take {p[1] + p[3]:.2f}, which leaves {allowed:.2f} ms for its own "
          f"{p[4]:.3f} GFLOP" + (f", {p[4] / allowed * 1e3:.0f} GFLOP/s (now {p[4] / p[2] * 1e3:.0f})." if allowed > 0
                                  else ": none."))
    print(f"{len(shared)} of {len(cp)} convolutions are shared.")
    # The ceiling: the plan's own convolutions cut to their FLOPs at the GFLOP/s their
    # places ran at in the unpruned network (pruning left the kernels' efficiency whole),
    # with the rest of a pass (shared convolutions, the pruned model's non-convolution time,
    # what DNNL_VERBOSE shows no primitive for) taken once from the unpruned runs and once
    # from the pruned runs: the host's noise between the two models' runs moves the rest by
    # about as much as it differs between them.
    runs = [r[5] for r in rows["unpruned"]]
    place_ms = {d[0]: (statistics.median(r[i][2] for r in runs), d[3]) for i, d in enumerate(runs[0])}
    scaled = sum(place_ms[q][0] * flops * args.batch / 1e9 / place_ms[q][1] for q, _, flops in cp if q not in shared)
    # DNNL_VERBOSE's cost per pass: the median, over rounds, of the unpruned model's wall
    # with it less its wall without it just before (paired, so the host's drift between
    # rounds cancels); it comes off both walls of each ratio.
    cost = statistics.median(r[0] - q for r, q in zip(rows["unpruned"], plain["unpruned"]))
    pu, pp = statistics.median(plain["unpruned"]), statistics.median(plain["pruned"])
    print(f"Without DNNL_VERBOSE (the same rounds): unpruned {pu:.2f} ms, pruned {pp:.2f} ms, {pu / pp:.2f}x; "
          f"DNNL_VERBOSE costs {cost:.2f} ms per pass (paired rounds).")
    unpruned_wall = u[0] - cost
    print(f"If each own convolution ran as many GFLOP/s as its place in the unpruned network ({p[4] / scaled * 1e3:.0f} "
          f"GFLOP/s together), next to the unpruned {unpruned_wall:.2f} ms without DNNL_VERBOSE:")
    for frame, rest in (("unpruned", u[0] - u[2] - u[3] + p[3]), ("pruned", p[0] - p[2])):
        ceiling = rest + scaled - cost
        need = unpruned_wall / args.target - (rest - cost)
        print(f"- the rest of the pass from the {frame} runs: {ceiling:.2f} ms, {unpruned_wall / ceiling:.2f}x; "
              + (f"{args.target}x would need them at {p[4] / need * 1e3:.0f} GFLOP/s." if need > 0
                 else f"{args.target}x is out of reach even with no time for them."))
    if args.detail:
        print("\n| own convolution | in -> out, kernel, stride, input map | ms per pass (median) | GFLOP/s "
              "| unpruned place's GFLOP/s |")
        print("|---|---|---|---|---|")
        runs = [r[5] for r in rows["pruned"]]
        for i, (place, key, _, gflop) in enumerate(runs[0]):
            if place in shared:
                continue
            ms = statistics.median(r[i][2] for r in runs)
            c, k, h, w, ks, s, _ = key
            ums, ugflop = place_ms[place]
            print(f"| {place} | {c} -> {k}, {ks}x{ks}, s{s}, {h}x{w} | {ms:.3f} | {gflop / ms * 1e3:.0f} "
                  f"| {ugflop / ums * 1e3:.0f} |")


if __name__ == "__main__":
    main()
