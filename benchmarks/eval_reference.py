#!/usr/bin/env python3
"""Checks `reidprune evaluate` against a plain NumPy implementation of the same protocol
(torchreid / fast-reid: drop same-pid same-camera gallery items, skip queries without
positives, CMC clipped to 1, non-interpolated AP, mINP = positives / rank of the last
positive; ties broken by gallery index) on random problems, and the k-reciprocal
re-ranking against a NumPy port of the authors' algorithm (squared distances, row
maxima, k1 20, k2 6, lambda 0.3). Prints the largest difference per metric; exits 1
when any exceeds 1e-6.

Usage: python benchmarks/eval_reference.py [--reidprune .build/release/reidprune] [--problems 5]
Needs numpy and safetensors.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file


def distances(q, g, metric):
    if metric == "euclidean":
        return (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2 * q @ g.T
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    gn = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    return 1 - qn @ gn.T


def evaluate(dist, qp, gp, qc, gc, max_rank=50):
    all_cmc, aps, inps = [], [], []
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind="stable")
        keep = ~((gp[order] == qp[i]) & (gc[order] == qc[i])) & (gp[order] != -1)
        raw = (gp[order][keep] == qp[i]).astype(np.float64)
        if not raw.any():
            continue
        cmc = raw.cumsum()
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        pos = np.where(raw == 1)[0]
        aps.append(((raw.cumsum() / (np.arange(len(raw)) + 1)) * raw).sum() / raw.sum())
        inps.append(raw.sum() / (pos.max() + 1))
    r = min(max_rank, dist.shape[1])
    cmc = np.mean([np.pad(c, (0, r - len(c)), constant_values=1) if len(c) < r else c[:r] for c in all_cmc], 0)
    return {"rank1": cmc[0], "rank5": cmc[min(4, r - 1)], "rank10": cmc[min(9, r - 1)], "rank20": cmc[min(19, r - 1)],
            "mAP": np.mean(aps), "mINP": np.mean(inps), "num_valid_queries": len(all_cmc)}


def rerank(q, g, metric, k1=20, k2=6, lam=0.3):
    feats = np.concatenate([q, g]).astype(np.float64)
    d = distances(feats, feats, metric)
    d = np.maximum(d, 0) if metric == "euclidean" else d * d
    d = d / d.max(axis=1, keepdims=True)
    n, nq = d.shape[0], q.shape[0]
    rank = np.argsort(d, axis=1, kind="stable")[:, :k1 + 1]
    V = np.zeros_like(d)
    for i in range(n):
        fwd = rank[i, :k1 + 1]
        rec = fwd[np.array([i in rank[f, :k1 + 1] for f in fwd])]
        exp = list(rec)
        h = int(np.around(k1 / 2)) + 1
        for c in rec:
            cf = rank[c, :h]
            cr = cf[np.array([c in rank[x, :h] for x in cf])]
            if len(np.intersect1d(cr, rec)) > 2 / 3 * len(cr):
                exp.extend(cr)
        exp = np.unique(exp)
        w = np.exp(-d[i, exp])
        V[i, exp] = w / w.sum()
    if k2 != 1:
        V = np.stack([V[rank[i, :k2]].mean(0) for i in range(n)])
    jac = np.zeros((nq, n))
    for i in range(nq):
        jac[i] = 1 - np.minimum(V[i][None, :], V).sum(1) / (2 - np.minimum(V[i][None, :], V).sum(1))
    return (jac * (1 - lam) + d[:nq] * lam)[:, nq:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reidprune", default=".build/release/reidprune")
    ap.add_argument("--problems", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    worst = {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in range(a.problems):
            nq, ng, dim, ids = rng.integers(20, 120), rng.integers(50, 400), rng.integers(4, 64), rng.integers(5, 40)
            centers = rng.normal(size=(ids, dim))
            qp, gp = rng.integers(1, ids, nq), rng.integers(-1, ids, ng)
            q = (centers[qp] + rng.normal(scale=1.2, size=(nq, dim))).astype(np.float32)
            g = (centers[np.abs(gp)] + rng.normal(scale=1.2, size=(ng, dim))).astype(np.float32)
            qc, gc = rng.integers(0, 4, nq), rng.integers(0, 4, ng)
            if p == 0:  # ties: duplicate gallery rows
                g[1] = g[0]
            for name, f, pid, cam in [("q", q, qp, qc), ("g", g, gp, gc)]:
                save_file({"features": f, "pids": pid.astype(np.int64), "camids": cam.astype(np.int64)},
                          os.path.join(tmp, f"{name}.safetensors"))
            for metric in ["euclidean", "cosine"]:
                for rr in [False, True]:
                    cmd = [a.reidprune, "evaluate", "--query", os.path.join(tmp, "q.safetensors"), "--gallery",
                           os.path.join(tmp, "g.safetensors"), "--metric", metric, "--json"] + (["--rerank"] if rr else [])
                    ours = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                    dist = rerank(q, g, metric) if rr else distances(q.astype(np.float64), g.astype(np.float64), metric)
                    ref = evaluate(dist, qp, gp, qc, gc)
                    for k, v in ref.items():
                        key = f"{k}{' (rerank)' if rr else ''}"
                        worst[key] = max(worst.get(key, 0), abs(ours[k] - v))
    bad = False
    for k, v in sorted(worst.items()):
        print(f"{k:28s} max |reidprune - numpy| = {v:.2e}")
        bad |= v > 1e-6
    print("agreement within 1e-6" if not bad else "DISAGREEMENT above 1e-6")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
