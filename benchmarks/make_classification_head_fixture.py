#!/usr/bin/env python3
"""Generates the classification-head fixture the NN tests read, and checks a file
ReIDPrune wrote against torchvision.

The model is torchvision's ResNet-50 structure (torchvision's own Bottleneck modules,
blocks 3-4-6-3) with every width scaled by 4/64 (base width 4, so the file stays small)
and torchvision's classifier `fc` over C = 7 classes; input 64x64. Its state_dict has
exactly the keys of `torchvision.models.resnet50(num_classes=7)` (checked here), only
narrower. Saved:
  - classification_resnet50_w4.safetensors: the state_dict as torchvision writes it
    (non-trivial BN running statistics, as after training);
  - classification_resnet50_w4_expected.safetensors: a batch of inputs and labels, the
    eval-mode logits, the training-mode logits, the label-smoothed (0.1) cross-entropy
    and the gradients of `fc.weight` and `fc.bias`.

Usage:
  python benchmarks/make_classification_head_fixture.py [--out Tests/NNTests/Fixtures]
  python benchmarks/make_classification_head_fixture.py --verify MODEL.safetensors
    loads a file ReIDPrune saved from that fixture's weights (the NN test
    testSavedClassificationModelLoadsIntoTorchvisionStructure writes one when
    REIDPRUNE_CLASSIFICATION_OUT names a path) with load_state_dict(strict=True)
    and compares its eval-mode logits with the fixture's.
  python benchmarks/make_classification_head_fixture.py --verify-full MODEL.safetensors [--arch resnet50]
         [--val DIR/val --size 224 --resize 256]
    loads a full-width classification model (the model.safetensors of a
    `task: classification` run) into torchvision.models.ARCH(num_classes=C) with
    load_state_dict(strict=True) and prints its logits on a seeded batch; with --val
    (class folders), also torchvision's top-1/top-5 there with Resize + CenterCrop,
    to set beside `reidprune eval --config C --weights MODEL --json`.
Needs torch, torchvision and safetensors (a virtual environment outside the repo).
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file, save_file
from torchvision.models.resnet import Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import ReducedResNet  # noqa: E402

CLASSES, BASE = 7, 4
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NNTests", "Fixtures")


class Classifier(nn.Module):
    """torchvision's ResNet forward: backbone, global average pooling, fc."""

    def __init__(self):
        super().__init__()
        self.body = ReducedResNet(Bottleneck, [3, 4, 6, 3], BASE)
        self.body.fc = nn.Linear(BASE * 8 * Bottleneck.expansion, CLASSES)

    def forward(self, x):
        return self.body.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1))


def make(out):
    torch.manual_seed(12)
    model = Classifier()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(6, 3, 64, 64))
    sd = {k: v.detach().clone().contiguous() for k, v in model.body.state_dict().items()}
    reference = torchvision.models.resnet50(num_classes=CLASSES).state_dict()
    assert set(sd) == set(reference), set(sd) ^ set(reference)
    assert all(sd[k].dim() == reference[k].dim() for k in sd)
    save_file(sd, os.path.join(out, "classification_resnet50_w4.safetensors"), metadata={"format": "pt"})

    x = torch.randn(4, 3, 64, 64)
    labels = torch.tensor([0, 3, 6, 3])
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    save_file({"input": x.contiguous(), "labels": labels, "eval.logits": eval_logits.contiguous(),
               "train.logits": logits.detach().contiguous(), "loss.ce": loss.detach().reshape(1),
               "grad.fc.weight": model.body.fc.weight.grad.contiguous(),
               "grad.fc.bias": model.body.fc.bias.grad.contiguous()},
              os.path.join(out, "classification_resnet50_w4_expected.safetensors"))


def verify(path):
    model = Classifier()
    state = load_file(path)
    model.body.load_state_dict(state, strict=True)
    model.eval()
    expected = load_file(os.path.join(FIXTURES, "classification_resnet50_w4_expected.safetensors"))
    with torch.no_grad():
        logits = model(expected["input"])
    err = (logits - expected["eval.logits"]).abs().max().item()
    scale = expected["eval.logits"].abs().max().item()
    print(f"{path}: load_state_dict(strict=True) ok, {len(state)} tensors; "
          f"max |logits - fixture| = {err:.3g} (logits up to {scale:.3g})")
    return err <= 1e-3 * max(scale, 1)


def verify_full(path, arch):
    state = load_file(path)
    classes = state["fc.weight"].shape[0]
    model = getattr(torchvision.models, arch)(num_classes=classes)
    model.load_state_dict(state, strict=True)
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 224, 224))
    print(f"{path}: torchvision.models.{arch}(num_classes={classes}).load_state_dict(strict=True) ok, "
          f"{len(state)} tensors; logits of a seeded batch: {logits[:, :min(classes, 4)].tolist()}")
    return model


def evaluate(model, val, size, resize):
    from torchvision import datasets, transforms
    t = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(size), transforms.ToTensor(),
                            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    data = datasets.ImageFolder(val, transform=t)
    top1 = top5 = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(data, batch_size=50):
            logits = model(x)
            # As reidprune counts: the label within the top k when fewer than k classes score strictly higher.
            higher = (logits > logits.gather(1, y[:, None])).sum(1)
            top1 += (higher < 1).sum().item()
            top5 += (higher < 5).sum().item()
    n = len(data)
    print(f'torchvision on {val}: {{"images": {n}, "top1": {top1 / n}, "top5": {top5 / n}}}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=FIXTURES)
    ap.add_argument("--verify", help="a model file ReIDPrune saved from the fixture's weights")
    ap.add_argument("--verify-full", help="a full-width classification model written by a reidprune run")
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--val", help="with --verify-full: a val/ folder of class folders to evaluate on")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--resize", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.verify:
        sys.exit(0 if verify(args.verify) else 1)
    if args.verify_full:
        model = verify_full(args.verify_full, args.arch)
        if args.val:
            evaluate(model, args.val, args.size, args.resize)
        return
    os.makedirs(args.out, exist_ok=True)
    make(args.out)


if __name__ == "__main__":
    main()
