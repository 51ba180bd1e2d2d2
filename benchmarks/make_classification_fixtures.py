#!/usr/bin/env python3
"""Generates the evaluation-transform fixtures the ReIDData tests read: for JPEG (4:2:0,
4:4:4, progressive, grayscale, CMYK) and PNG inputs, torchvision's ImageNet evaluation
transform Resize(R) + CenterCrop(S) on the Pillow image (`Image.open(f).convert("RGB")`,
as ImageFolder's loader gives it), saved as lossless PNG, listed in manifest.json.
Small R, S for the existing tiny fixtures (upscaling, downscaling, odd offsets that Python
rounds half to even) and the real 256/224 on one generated 300x227 JPEG.

Usage: /work/venv-torch/bin/python benchmarks/make_classification_fixtures.py \
           [--fixtures Tests/ReIDDataTests/Fixtures]
Needs torchvision (with Pillow) and numpy.
"""
import argparse
import json
import os

import numpy as np
from PIL import Image
from torchvision import transforms

CASES = [  # input, resize, crop
    ("a420.jpg", 32, 28),
    ("b444.jpg", 48, 40),
    ("c420.jpg", 64, 56),
    ("cmyk.jpg", 24, 21),
    ("ycck.jpg", 22, 19),
    ("gray.jpg", 20, 17),
    ("d.png", 16, 15),
    ("progressive.jpg", 33, 30),
    ("imagenet_300x227.jpg", 256, 224),
]


def smooth_image(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.01, 0.08, 3)
        img[..., c] = 128 + 100 * np.sin(fx * x + ph * 7) * np.cos(fy * y) + rng.normal(0, 3, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default="Tests/ReIDDataTests/Fixtures")
    args = ap.parse_args()
    out = os.path.join(args.fixtures, "classification_eval")
    os.makedirs(out, exist_ok=True)
    big = os.path.join(out, "imagenet_300x227.jpg")
    Image.fromarray(smooth_image(300, 227, 12)).save(big, quality=90, subsampling=2)
    manifest = []
    for name, resize, crop in CASES:
        src = big if name == "imagenet_300x227.jpg" else os.path.join(args.fixtures, name)
        image = Image.open(src).convert("RGB")
        t = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop)])
        expected = t(image)
        assert expected.size == (crop, crop)
        base = os.path.splitext(name)[0]
        target = f"{base}_r{resize}_c{crop}.png"
        expected.save(os.path.join(out, target))
        rel = os.path.relpath(src, args.fixtures)
        manifest.append({"input": rel, "resize": resize, "crop": crop, "expected": "classification_eval/" + target})
        print(rel, image.size, "->", target)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
