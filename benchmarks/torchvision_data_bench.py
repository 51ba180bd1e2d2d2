#!/usr/bin/env python3
"""torchvision's ImageNet training transform rate on one core, on the same files as
`reidprune bench data --source DIR --size 224`: the bytes are read into memory first,
(--files of them, evenly spaced over the sorted list, the same files reidprune picks),
then each image is decoded and augmented (RandomResizedCrop(size), RandomHorizontalFlip,
to float, Normalize), cycling over the files.

  pil:         Image.open(bytes).convert("RGB") + transforms (torchvision's reference recipe)
  decode_jpeg: torchvision.io.decode_jpeg (libjpeg-turbo) + transforms.v2 on uint8 tensors

Usage: /work/venv-torch/bin/python benchmarks/torchvision_data_bench.py --source DIR \
           [--size 224] [--images 2000] [--files 1000] [--json]
Prints one line (or JSON object) per mode with images_per_s.
"""
import argparse
import io
import json
import os
import time

import torch
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.transforms import v2

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def files(root):
    train = os.path.join(root, "train")
    base = train if os.path.isdir(train) else root
    out = []
    for d, _, names in os.walk(base):
        out += [os.path.join(d, n) for n in names if n.lower().endswith((".jpg", ".jpeg", ".png"))]
    return sorted(out)


def run(mode, blobs, size, images):
    if mode == "pil":
        t = transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
                                transforms.ToTensor(), transforms.Normalize(MEAN, STD)])

        def one(b):
            return t(Image.open(io.BytesIO(b)).convert("RGB"))
    else:
        t = v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip(),
                        v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
        tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]

        def one(i):
            data = tensors[i]
            if blobs[i][:2] == b"\xff\xd8":
                img = torchvision.io.decode_jpeg(data, mode=torchvision.io.ImageReadMode.RGB)
            else:
                img = torchvision.io.decode_image(data, mode=torchvision.io.ImageReadMode.RGB)
            return t(img)
    warm = min(20, images)
    for i in range(warm):
        one(blobs[i % len(blobs)] if mode == "pil" else i % len(blobs))
    start = time.perf_counter()
    for i in range(images):
        out = one(blobs[i % len(blobs)] if mode == "pil" else i % len(blobs))
        assert out.shape == (3, size, size)
    return images / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    every = files(args.source)
    k = min(args.files, len(every))
    paths = [every[i * len(every) // k] for i in range(k)]  # evenly spaced, as reidprune bench data picks them
    if not paths:
        raise SystemExit(f"{args.source}: no jpg, jpeg or png files")
    blobs = [open(p, "rb").read() for p in paths]
    for mode in ["pil", "decode_jpeg"]:
        rate = run(mode, blobs, args.size, args.images)
        result = {"bench": "data", "impl": f"torchvision {torchvision.__version__} {mode}", "source": args.source,
                  "size": args.size, "files": len(blobs), "images": args.images, "images_per_s": rate}
        print(json.dumps(result) if args.json else f"{result['impl']}: {rate:.0f} images/s on one core")


if __name__ == "__main__":
    main()
