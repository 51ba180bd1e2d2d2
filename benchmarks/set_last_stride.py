#!/usr/bin/env python3
"""Copy of a reidprune model file whose last stage runs at another stride.

The stride of layer4's first block (its 3x3 and downsample) does not change any weight's
shape, so a model trained at last stride 1 can be timed and pruned at last stride 2 (and
back): only the metadata's architecture (and every plan of its pruning history) change.
The copy is written atomically. Usage:
    python benchmarks/set_last_stride.py IN.safetensors OUT.safetensors --last-stride 2
"""
import argparse
import json
import os
import struct
import sys


def restride(arch, stride):
    arch["stages"][-1]["blocks"][0]["stride"] = stride
    return arch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--last-stride", type=int, choices=[1, 2], required=True)
    a = ap.parse_args()
    with open(a.src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    meta = header.get("__metadata__", {})
    if "reidprune.architecture" not in meta:
        sys.exit(f"{a.src}: no reidprune.architecture metadata (not a reidprune model file)")
    meta["reidprune.architecture"] = json.dumps(restride(json.loads(meta["reidprune.architecture"]), a.last_stride),
                                                separators=(",", ":"), sort_keys=True)
    if "reidprune.pruning_history" in meta:
        history = json.loads(meta["reidprune.pruning_history"])
        for plan in history:
            restride(plan["before"], a.last_stride)
            restride(plan["after"], a.last_stride)
        meta["reidprune.pruning_history"] = json.dumps(history, separators=(",", ":"), sort_keys=True)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = f"{a.dst}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + body)
    os.replace(tmp, a.dst)


if __name__ == "__main__":
    main()
