#!/usr/bin/env python3
"""Generates the PyTorch reference fixtures the NN tests read.

For a reduced-width ResNet with torchvision's structure and key names (BasicBlock,
ResNet-18 layout, base width 8; Bottleneck, ResNet-50 layout, base width 4) plus the
re-ID head (global average pooling, BNNeck with frozen shift, bias-free classifier),
it saves as safetensors: the initial weights, a batch of inputs and labels, the
eval-mode features, the training-mode features, embeddings, logits and losses
(label-smoothed cross-entropy and batch-hard triplet), every parameter gradient, the
BN running statistics after the training forward, and the parameters after one SGD
step and after one Adam step. It also writes a torchvision-format backbone file
(with `fc`) and its eval-mode pooled features, for the import test.

Usage: python benchmarks/make_fixtures.py [--out Tests/NNTests/Fixtures]
Needs torch, torchvision and safetensors (a virtual environment outside the repo).
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision.models.resnet import BasicBlock, Bottleneck


class ReducedResNet(nn.Module):
    """torchvision's ResNet with every width scaled by base/64 and no fc (unless asked)."""

    def __init__(self, block, layers, base, with_fc=False, last_stride=2):
        super().__init__()
        self.inplanes = base
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make(block, base, layers[0], 1)
        self.layer2 = self._make(block, base * 2, layers[1], 2)
        self.layer3 = self._make(block, base * 4, layers[2], 2)
        self.layer4 = self._make(block, base * 8, layers[3], last_stride)
        if with_fc:
            self.fc = nn.Linear(base * 8 * block.expansion, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                # Non-trivial affine parameters so that gradients through them are tested.
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.2, 0.2)

    def _make(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x


class ReIDModel(nn.Module):
    def __init__(self, backbone, dim, num_classes):
        super().__init__()
        self.backbone = backbone
        self.bnneck = nn.BatchNorm1d(dim)
        self.bnneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.uniform_(self.bnneck.weight, 0.5, 1.5)

    def forward(self, x):
        f = F.adaptive_avg_pool2d(self.backbone(x), 1).flatten(1)
        e = self.bnneck(f)
        return f, e, self.classifier(e) if self.training else None


def cross_entropy_label_smooth(logits, labels, eps=0.1):
    log_probs = F.log_softmax(logits, dim=1)
    targets = torch.zeros_like(log_probs).scatter_(1, labels.unsqueeze(1), 1)
    targets = (1 - eps) * targets + eps / logits.size(1)
    return (-targets * log_probs).mean(0).sum()


def triplet_batch_hard(f, labels, margin=0.3):
    n = f.size(0)
    sq = f.pow(2).sum(1, keepdim=True).expand(n, n)
    dist = (sq + sq.t() - 2 * f @ f.t()).clamp(min=1e-12).sqrt()
    same = labels.expand(n, n).eq(labels.expand(n, n).t())
    ap = torch.stack([dist[i][same[i]].max() for i in range(n)])
    an = torch.stack([dist[i][~same[i]].min() for i in range(n)])
    return F.margin_ranking_loss(an, ap, torch.ones_like(an), margin=margin)


def state(model):
    """torchvision names: the backbone's keys without the 'backbone.' prefix."""
    out = {}
    for k, v in model.state_dict().items():
        out[k[len("backbone."):] if k.startswith("backbone.") else k] = v.detach().clone().contiguous()
    return out


def named_params(model):
    return {(k[len("backbone."):] if k.startswith("backbone.") else k): p for k, p in model.named_parameters()}


def make(name, block, layers, base, out, seed):
    torch.manual_seed(seed)
    num_classes, n, h, w = 4, 8, 64, 32
    backbone = ReducedResNet(block, layers, base)
    model = ReIDModel(backbone, base * 8 * block.expansion, num_classes)
    x = torch.randn(n, 3, h, w)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    tensors = {"input": x.contiguous(), "labels": labels}
    for k, v in state(model).items():
        tensors["init." + k] = v

    model.eval()
    with torch.no_grad():
        f, e, _ = model(x)
    tensors["eval.features"] = f.contiguous()
    tensors["eval.embeddings"] = e.contiguous()

    model.train()
    f, e, logits = model(x)
    ce = cross_entropy_label_smooth(logits, labels)
    tri = triplet_batch_hard(f, labels)
    (ce + tri).backward()
    tensors["train.features"] = f.detach().contiguous()
    tensors["train.embeddings"] = e.detach().contiguous()
    tensors["train.logits"] = logits.detach().contiguous()
    tensors["loss.ce"] = ce.detach().reshape(1)
    tensors["loss.triplet"] = tri.detach().reshape(1)
    for k, v in state(model).items():
        if "running" in k or "num_batches" in k:
            tensors["after." + k] = v
    params = named_params(model)
    for k, p in params.items():
        if p.grad is not None:
            tensors["grad." + k] = p.grad.detach().clone().contiguous()

    trainable = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad.detach().clone() for p in trainable]
    start = [p.detach().clone() for p in trainable]

    sgd = torch.optim.SGD(trainable, lr=0.05, momentum=0.9, weight_decay=5e-4)
    sgd.step()
    for k, p in params.items():
        if p.requires_grad:
            tensors["sgd." + k] = p.detach().clone().contiguous()

    with torch.no_grad():
        for p, s in zip(trainable, start):
            p.copy_(s)
    for p, g in zip(trainable, grads):
        p.grad = g.clone()
    adam = torch.optim.Adam(trainable, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4)
    adam.step()
    for k, p in params.items():
        if p.requires_grad:
            tensors["adam." + k] = p.detach().clone().contiguous()

    save_file(tensors, os.path.join(out, f"{name}.safetensors"), metadata={"generator": "benchmarks/make_fixtures.py"})


def make_torchvision_file(out, seed):
    torch.manual_seed(seed)
    net = ReducedResNet(BasicBlock, [2, 2, 2, 2], 8, with_fc=True)
    # Non-trivial running statistics, as a trained checkpoint has.
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(6, 3, 64, 32))
    net.eval()
    x = torch.randn(3, 3, 64, 32)
    with torch.no_grad():
        pooled = F.adaptive_avg_pool2d(net(x), 1).flatten(1)
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(sd, os.path.join(out, "torchvision_resnet18_w8.safetensors"), metadata={"format": "pt"})
    save_file({"input": x.contiguous(), "pooled": pooled.contiguous()},
              os.path.join(out, "torchvision_resnet18_w8_expected.safetensors"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "NNTests", "Fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    make("basic_resnet18_w8", BasicBlock, [2, 2, 2, 2], 8, args.out, seed=1)
    make("bottleneck_1111_w8", Bottleneck, [1, 1, 1, 1], 8, args.out, seed=2)
    # Full ResNet-50 depth: float32 itself drifts about 5e-4 from float64 here, so the
    # test compares this one with a looser tolerance.
    make("bottleneck_resnet50_w4", Bottleneck, [3, 4, 6, 3], 4, args.out, seed=4)
    make_torchvision_file(args.out, seed=3)


if __name__ == "__main__":
    main()
