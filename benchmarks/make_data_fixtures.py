#!/usr/bin/env python3
"""Generates the image fixtures the ReIDData tests read: JPEG files (4:2:0 and 4:4:4,
odd sizes) with the pixels Pillow decodes from them, a PNG with its pixels, and
Pillow's bilinear resize of one of them to 64x32 (what torchvision's Resize gives a
re-ID pipeline), all as safetensors U8 tensors of shape (H, W, 3).

Usage: python benchmarks/make_data_fixtures.py [--out Tests/ReIDDataTests/Fixtures]
Needs Pillow, numpy and safetensors.
"""
import argparse
import io
import os

import numpy as np
from PIL import Image
from safetensors.numpy import save_file


def smooth_image(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.05, 0.4, 3)
        img[..., c] = 128 + 90 * np.sin(fx * x + ph * 7) * np.cos(fy * y) + rng.normal(0, 12, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "ReIDDataTests", "Fixtures"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tensors = {}
    for name, (w, h, sub, q) in {"a420": (37, 23, 2, 90), "b444": (64, 128, 0, 75), "c420": (129, 67, 2, 55)}.items():
        buf = io.BytesIO()
        Image.fromarray(smooth_image(w, h, len(name) + w)).save(buf, "JPEG", quality=q, subsampling=sub)
        with open(os.path.join(a.out, f"{name}.jpg"), "wb") as f:
            f.write(buf.getvalue())
        decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        tensors[name] = np.ascontiguousarray(decoded)
        if name == "b444":
            resized = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").resize((32, 64), Image.BILINEAR)
            tensors["b444_resized_64x32"] = np.ascontiguousarray(np.asarray(resized))
            up = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").resize((96, 200), Image.BILINEAR)
            tensors["b444_resized_200x96"] = np.ascontiguousarray(np.asarray(up))
    png = smooth_image(21, 13, 5)
    Image.fromarray(png).save(os.path.join(a.out, "d.png"))
    tensors["d"] = png
    save_file(tensors, os.path.join(a.out, "pillow_pixels.safetensors"))


if __name__ == "__main__":
    main()
