#!/usr/bin/env python3
"""Where a ResNet-50 training step goes: runs `reidprune bench ops` (every distinct
ResNet-50 convolution timed alone, channels-last as the trainer runs them) and `reidprune
bench train --arch resnet50 --last-stride 2` (bench ops' network is torchvision's
ResNet-50, last stride 2) at the same size, batch, threads and precision, and prints a
markdown breakdown:

- the median time of each phase of the step (forward, losses, backward, update, other);
- the convolutions inside the step per pass (calls, whole calls with the weight and
  activation reorders around the primitive, and the primitives alone), from bench
  train's counters;
- bench ops' network totals per pass (each shape's median times how often ResNet-50 uses
  it), backward-data without the stem's (training never computes the image's gradient),
  and their share of the step.

Usage: python3 benchmarks/step_breakdown.py [--bin .build/release/reidprune] [--threads 2]
       [--steps 8] [--batch 32] [--height 256] [--width 128] [--precision fp32] [--repeats 5]
       [--ops-json FILE --train-json FILE]   (re-render saved outputs instead of measuring)
       [--save-dir DIR]                      (keep both commands' raw output)
Python 3 standard library only.
"""
import argparse
import json
import os
import re
import subprocess
import sys

PASSES = [("forward", "forward"), ("backward_data", "backward-data"), ("backward_weights", "backward-weights")]
PHASES = ["forward", "losses", "backward", "update", "other"]
STEM = re.compile(r"^N\d+ C3 ")  # the only ResNet-50 convolution with 3 input channels


def run(cmd):
    print("running: " + " ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"step_breakdown: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def parse_ops(text, what):
    """bench ops --json: one object per line; returns the convolution records."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            sys.exit(f"step_breakdown: {what} line {number} is not JSON: {e}")
    convs = [r for r in records if r.get("op") == "conv"]
    if not convs:
        sys.exit(f"step_breakdown: {what} holds no convolution records")
    return convs


def parse_train(text, what):
    """bench train --json: the last line is the result object."""
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines:
        sys.exit(f"step_breakdown: {what} is empty")
    try:
        r = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        sys.exit(f"step_breakdown: {what}'s last line is not JSON: {e}")
    for key in ["ms_per_step", "phases_ms", "conv_ms", "conv_primitive_ms", "conv_calls"]:
        if key not in r:
            sys.exit(f"step_breakdown: {what} has no '{key}' (a reidprune built before the step breakdown?)")
    if r.get("mode") != "train":
        sys.exit(f"step_breakdown: {what} is not a training benchmark (mode {r.get('mode')})")
    return r


def ops_totals(convs, train, what):
    """Per pass: uses and ms of the whole network (median x uses), the stem's share apart."""
    totals_line = f"resnet50 total {train['height']}x{train['width']} batch {train['batch']}"
    shapes = [r for r in convs if not r["shape"].startswith("resnet50 total")]
    reported = {r["pass"]: r["ms"] for r in convs if r["shape"].startswith(totals_line)}
    if len(reported) != 3:
        sys.exit(f"step_breakdown: {what} has no '{totals_line}' lines: bench ops and bench train must use the "
                 "same --height, --width and --batch")
    out = {}
    for key, _ in PASSES:
        rows = [r for r in shapes if r["pass"] == key]
        stem = [r for r in rows if STEM.match(r["shape"])]
        if len(stem) != 1:
            sys.exit(f"step_breakdown: {what} has {len(stem)} stem ({key}) records, expected 1")
        total = sum(r["ms"] * r["count"] for r in rows)
        if abs(total - reported[key]) > 1e-6 * max(1.0, total):
            sys.exit(f"step_breakdown: {what}'s {key} shapes add up to {total:.3f} ms, its total line says "
                     f"{reported[key]:.3f}")
        out[key] = {"uses": sum(r["count"] for r in rows), "ms": total,
                    "stem_ms": stem[0]["ms"] * stem[0]["count"], "stem_uses": stem[0]["count"]}
    bf16_shapes = all(r["shape"].endswith(" bf16") for r in shapes)
    if bf16_shapes != (train["precision"] == "bf16"):
        sys.exit(f"step_breakdown: {what} and the training benchmark ({train['precision']}) differ in precision")
    return out


def pct(ms, step):
    return f"{100 * ms / step:.1f}"


def render(ops, train, commands):
    step = train["ms_per_step"]
    ph, conv, inside, calls = train["phases_ms"], train["conv_ms"], train["conv_primitive_ms"], train["conv_calls"]
    lines = [f"# ResNet-50 training step breakdown ({train['precision']}, last stride 2, {train['height']}x"
             f"{train['width']}, batch {train['batch']}, {train['threads']} threads, {train['ranks']} rank(s), "
             f"median of {train['steps']} steps; random data)", ""]
    if commands:
        lines += ["Commands:", ""] + [f"    {c}" for c in commands] + [""]
    lines += ["## Phases of the step (bench train)", "", "| phase | ms | % of step |", "|---|---:|---:|"]
    for p in PHASES:
        lines.append(f"| {p} | {ph[p]:.1f} | {pct(ph[p], step)} |")
    lines += [f"| step (median) | {step:.1f} | 100.0 |", "",
              "Each phase is its own median over the steps; `other` is the step minus the four phases "
              "(before the forward and after the update).", ""]

    # bench ops, as the step runs the passes: backward-data without the stem's.
    ops_ms = {"forward": ops["forward"]["ms"], "backward_weights": ops["backward_weights"]["ms"],
              "backward_data": ops["backward_data"]["ms"] - ops["backward_data"]["stem_ms"]}
    ops_uses = {"forward": ops["forward"]["uses"], "backward_weights": ops["backward_weights"]["uses"],
                "backward_data": ops["backward_data"]["uses"] - ops["backward_data"]["stem_uses"]}
    weights = train.get("conv_weight_reorder_ms", {k: 0.0 for k, _ in PASSES})
    activ = {k: max(0.0, conv[k] - inside[k] - weights[k]) for k, _ in PASSES}
    lines += ["## Convolutions", "",
              "In the step (bench train's counters, median ms per step): whole calls = primitive + weight reorders "
              "+ activation reorders (and binding the arguments). bench ops: each shape timed alone x its uses, "
              "weights already in the primitive's format (activation reorders included, as in the step).", "",
              "| pass | step: calls | step: whole calls | step: primitives | step: weight reorders "
              "| step: activation reorders | bench ops: convolutions | bench ops: ms |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, name in PASSES:
        lines.append(f"| {name} | {calls[key]} | {conv[key]:.1f} | {inside[key]:.1f} | {weights[key]:.1f} | "
                     f"{activ[key]:.1f} | {ops_uses[key]} | {ops_ms[key]:.1f} |")
    total = {name: sum(d[k] for k, _ in PASSES) for name, d in
             [("calls", calls), ("conv", conv), ("inside", inside), ("weights", weights), ("activ", activ),
              ("uses", ops_uses), ("ops", ops_ms)]}
    lines.append(f"| **total** | {total['calls']} | {total['conv']:.1f} | {total['inside']:.1f} | "
                 f"{total['weights']:.1f} | {total['activ']:.1f} | {total['uses']} | {total['ops']:.1f} |")
    lines.append(f"| **% of step** | | {pct(total['conv'], step)} | {pct(total['inside'], step)} | "
                 f"{pct(total['weights'], step)} | {pct(total['activ'], step)} | | {pct(total['ops'], step)} |")
    c_total, i_total, o_total = total["conv"], total["inside"], total["ops"]
    stem_fwd = ops["forward"]["stem_ms"]
    lines += ["",
              f"- bench ops' convolutions (stem backward-data excluded, {ops['backward_data']['stem_ms']:.1f} ms): "
              f"**{o_total:.1f} ms = {pct(o_total, step)}% of the {step:.1f} ms step** (goal: at least 80%).",
              f"- The step also recomputes the stem's forward in backward (bench ops: {stem_fwd:.1f} ms): with it, "
              f"{o_total + stem_fwd:.1f} ms = {pct(o_total + stem_fwd, step)}%.",
              f"- Convolutions inside the step: {c_total:.1f} ms = **{pct(c_total, step)}%** as whole calls"
              f"{' (bf16 conversions are activation reorders)' if train['precision'] == 'bf16' else ''}; "
              f"without the weight reorders (what bench ops times) {c_total - total['weights']:.1f} ms = "
              f"{pct(c_total - total['weights'], step)}%; inside the primitives {i_total:.1f} ms = "
              f"{pct(i_total, step)}%. The rest of the step: {step - c_total:.1f} ms."]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=".build/release/reidprune", help="the reidprune executable (a release build)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8, help="bench train's timed steps")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--repeats", type=int, default=5, help="bench ops' timed runs per kernel")
    ap.add_argument("--ops-json", help="bench ops --json output saved earlier (with --train-json: no measuring)")
    ap.add_argument("--train-json", help="bench train --json output saved earlier")
    ap.add_argument("--save-dir", help="write both commands' raw output here (ops.jsonl, train.json)")
    a = ap.parse_args()
    if (a.ops_json is None) != (a.train_json is None):
        sys.exit("step_breakdown: --ops-json and --train-json go together")
    size = ["--height", str(a.height), "--width", str(a.width), "--batch", str(a.batch), "--threads", str(a.threads),
            "--precision", a.precision]
    ops_cmd = [a.bin, "bench", "ops", "--json", "--layout", "nhwc", "--repeats", str(a.repeats)] + size
    train_cmd = [a.bin, "bench", "train", "--json", "--arch", "resnet50", "--last-stride", "2",
                 "--steps", str(a.steps)] + size
    if a.ops_json:
        with open(a.ops_json) as f:
            ops_text = f.read()
        with open(a.train_json) as f:
            train_text = f.read()
        commands, ops_what, train_what = [], a.ops_json, a.train_json
    else:
        if not os.access(a.bin, os.X_OK):
            sys.exit(f"step_breakdown: --bin {a.bin} is not an executable (swift build -c release first)")
        ops_text = run(ops_cmd)
        train_text = run(train_cmd)
        commands, ops_what, train_what = [" ".join(ops_cmd), " ".join(train_cmd)], "bench ops", "bench train"
    if a.save_dir:
        os.makedirs(a.save_dir, exist_ok=True)
        with open(os.path.join(a.save_dir, "ops.jsonl"), "w") as f:
            f.write(ops_text)
        with open(os.path.join(a.save_dir, "train.json"), "w") as f:
            f.write(train_text)
    train = parse_train(train_text, train_what)
    if train.get("arch") != "resnet50":
        sys.exit(f"step_breakdown: {train_what} measured {train.get('arch')}, bench ops covers resnet50")
    if train.get("last_stride", 2) != 2:
        sys.exit(f"step_breakdown: {train_what} measured last stride {train['last_stride']}, bench ops covers 2")
    ops = ops_totals(parse_ops(ops_text, ops_what), train, ops_what)
    print(render(ops, train, commands))


if __name__ == "__main__":
    main()
