#!/usr/bin/env python3
"""Runs a model exported by `reidprune export --format onnx` with onnxruntime.

check: the exported re-ID model on the images of a features file written by
  `reidprune extract` (same weights, same --height/--width, without --flip or
  --normalize), prepared as the test-time pipeline does (Pillow decode, RGB,
  bilinear resize to H x W, /255, ImageNet mean/std), compared row by row with the
  features reidprune computed. Passes when the largest absolute difference is at most
  --tolerance (default 1e-4) times the features' largest magnitude; exits 1 otherwise.
speed: onnxruntime images/s of the exported model on random input (median of timed
  runs), to set beside `reidprune bench infer --weights W` at the same batch, size and
  threads. Export with --dynamic-batch or --batch equal to --batch.

Usage:
  python benchmarks/onnx_check.py check --onnx M.onnx --features F.safetensors --data D [--limit N]
  python benchmarks/onnx_check.py speed --onnx M.onnx --batch 32 --threads 2 [--steps 10]
"""
import argparse
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def read_safetensors(path):
    """(tensors by name as numpy arrays, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    kinds = {"F32": np.float32, "I64": np.int64, "F64": np.float64, "I32": np.int32}
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=kinds[e["dtype"]]).reshape(e["shape"])
    return tensors, header.get("__metadata__", {})


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def prepare(path, height, width):
    """(3, H, W) float32 as the test-time pipeline makes it (in the same float32 steps)."""
    img = Image.open(path).convert("RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32)
    scale = np.float32(1) / (np.float32(255) * STD)
    shift = -MEAN / STD
    return (x * scale + shift).transpose(2, 0, 1)


def check(args):
    sess = session(args.onnx, args.threads)
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    if out.name != "features":
        sys.exit(f"{args.onnx}: output '{out.name}': only re-ID exports (output 'features') compare with reidprune extract")
    _, _, height, width = inp.shape
    tensors, meta = read_safetensors(args.features)
    if "features" not in tensors:
        sys.exit(f"{args.features}: no 'features' tensor (write it with reidprune extract)")
    expected = tensors["features"]
    if "paths" not in meta:
        sys.exit(f"{args.features}: holds no image paths (write it with reidprune extract)")
    # Files from reidprune extract say how they were made; one made otherwise cannot pass.
    made = (meta.get("input_height"), meta.get("input_width"))
    if made != (None, None) and made != (str(height), str(width)):
        sys.exit(f"{args.features}: extracted at {made[0]}x{made[1]}, but {args.onnx} takes {height}x{width}; "
                 "extract again with --height/--width, or export with them")
    for flag in ("flip", "normalize"):
        if meta.get(flag) == "true":
            sys.exit(f"{args.features}: extracted with --{flag}; the export's features are without it: extract again without")
    paths = json.loads(meta["paths"])
    n = min(len(paths), args.limit) if args.limit else len(paths)
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) else None
    batch = fixed or args.batch
    got = []
    for start in range(0, n, batch):
        rows = [prepare(os.path.join(args.data, p), height, width) for p in paths[start:min(start + batch, n)]]
        count = len(rows)
        while fixed and len(rows) < fixed:
            rows.append(rows[-1])
        got.append(sess.run([out.name], {inp.name: np.stack(rows)})[0][:count])
    got = np.concatenate(got)
    ref = expected[:n]
    diff = float(np.abs(got - ref).max())
    largest = float(np.abs(ref).max())
    ratio = diff / largest
    ok = ratio <= args.tolerance
    synthetic = sess.get_modelmeta().custom_metadata_map.get("synthetic") == "true"
    print(json.dumps({"onnx": args.onnx, "images": n, "dim": int(ref.shape[1]), "max_abs_diff": diff,
                      "max_abs_feature": largest, "ratio": ratio, "tolerance": args.tolerance, "pass": ok,
                      "synthetic_model": synthetic}))
    sys.exit(0 if ok else 1)


def speed(args):
    sess = session(args.onnx, args.threads)
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    if isinstance(inp.shape[0], int) and inp.shape[0] != args.batch:
        sys.exit(f"{args.onnx}: fixed batch {inp.shape[0]}; export with --dynamic-batch or --batch {args.batch}")
    _, _, height, width = inp.shape
    x = np.random.default_rng(0).standard_normal((args.batch, 3, height, width), dtype=np.float32)
    for _ in range(args.warmup):
        sess.run([out.name], {inp.name: x})
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        sess.run([out.name], {inp.name: x})
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    print(json.dumps({"onnx": args.onnx, "runtime": f"onnxruntime {ort.__version__}", "batch": args.batch,
                      "height": height, "width": width, "threads": args.threads, "median_ms": median * 1e3,
                      "images_per_s": args.batch / median}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="compare with reidprune extract's features")
    c.add_argument("--onnx", required=True)
    c.add_argument("--features", required=True, help="written by reidprune extract (no --flip, no --normalize)")
    c.add_argument("--data", required=True, help="the data set folder the features' paths are relative to")
    c.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    c.add_argument("--batch", type=int, default=16, help="images per run for a dynamic-batch export")
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--tolerance", type=float, default=1e-4)
    s = sub.add_parser("speed", help="onnxruntime images/s on random input")
    s.add_argument("--onnx", required=True)
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    paths = [("--onnx", args.onnx)] + ([("--features", args.features), ("--data", args.data)] if args.command == "check" else [])
    for option, path in paths:
        if not os.path.exists(path):
            ap.error(f"{option} {path}: no such file or folder")
    check(args) if args.command == "check" else speed(args)


if __name__ == "__main__":
    main()
