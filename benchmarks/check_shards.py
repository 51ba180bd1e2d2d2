#!/usr/bin/env python3
"""Reads shards written by `reidprune shards` the way webdataset does (Python's tarfile,
members grouped by key = path up to the first dot of the file name) and checks them
against the folder they came from: every image's bytes equal, every .cls the class
index of its folder in classes.json, each shard's count as shards.json says.

Usage: python benchmarks/check_shards.py --data DIR --shards OUT [--split train|val]
"""
import argparse
import json
import os
import re
import tarfile

KEY = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")  # webdataset's base_plus_ext


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--shards", required=True)
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    classes = json.load(open(os.path.join(args.shards, "classes.json")))
    index = {v: int(k) for k, v in classes.items()}
    counts = {s["url"]: s["nsamples"] for s in json.load(open(os.path.join(args.shards, "shards.json")))[args.split]}
    split_dir = os.path.join(args.data, args.split)
    seen = 0
    for name in sorted(counts):
        samples = {}
        with tarfile.open(os.path.join(args.shards, name)) as tar:
            for m in tar.getmembers():
                key, ext = KEY.match(m.name).groups()
                samples.setdefault(key, {})[ext] = tar.extractfile(m).read()
        assert len(samples) == counts[name], f"{name}: {len(samples)} samples, shards.json says {counts[name]}"
        for key, s in samples.items():
            cls = key.split("/")[0]
            assert int(s["cls"]) == index[cls], f"{name}: {key}: class {s['cls']} for folder {cls}"
            (ext, data), = [(e, d) for e, d in s.items() if e != "cls"]
            stem = key.split("/", 1)[1]
            with open(os.path.join(split_dir, cls, f"{stem}.{ext}"), "rb") as f:
                assert f.read() == data, f"{name}: {key}.{ext}: bytes differ from the original"
            seen += 1
    print(f"{args.shards}: {len(counts)} {args.split} shards, {seen} samples: bytes and classes as in {split_dir}")


if __name__ == "__main__":
    main()
