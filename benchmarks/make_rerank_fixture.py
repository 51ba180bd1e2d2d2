#!/usr/bin/env python3
"""Writes the k-reciprocal re-ranking fixture the ReIDEval tests read
(Tests/ReIDEvalTests/Fixtures/rerank_reference.json).

Two small re-ID problems with features built here from Python's own seeded generator
(not NumPy's, so the numbers never depend on a NumPy version):
- "market": 12 queries x 40 gallery items x 16-d; 9 identities of 2 to 6 images over
  4 cameras, distractors (pid 0) and junk (pid -1) in the gallery, one query whose
  only gallery images share its camera and one whose identity is absent (both
  skipped by the protocol). Every identity is far smaller than k1 + 1 = 21, so the
  k-reciprocal sets are mostly other identities' images.
- "tiny": 3 queries x 10 gallery items x 8-d; the 13 items are fewer than k1 + 1, so
  every neighbour list is the whole set.
For each problem and metric (euclidean, cosine), and for "market" also k1 9, k2 3 (an
odd k1: k1 / 2 rounds half to even, as np.around does) and k1 4, k2 8, lambda 0.5 (the
query expansion reaches past the k1 + 1 nearest neighbours), it runs a
line-by-line port of torchreid's `re_ranking` (torchreid/utils/rerank.py) in float64
and the torchreid / fast-reid evaluation protocol on its result, and stores the
features, labels, the (Q, G) re-ranked distances and CMC/mAP/mINP.

Inputs to `re_ranking`: ReIDPrune follows the authors' code (Zhong et al. 2017), which
squares Euclidean distances once, so the Euclidean case passes plain Euclidean
distances (re_ranking squares them); the cosine case passes 1 - cos (squared inside,
as in torchreid). Ties never decide anything: neighbour lists use a stable sort, and
the script picks the first seed whose neighbour-list boundaries (ranks k2, k1/2 + 1,
k1 + 1) and positive/negative orderings are separated by a margin far above float32
error (MARGIN), so a float32 implementation must find the same sets and rankings.

Usage (numpy only, in a virtual environment outside the repo):
    python3 -m venv /work/venv-np && /work/venv-np/bin/pip install numpy
    /work/venv-np/bin/python benchmarks/make_rerank_fixture.py [--out Tests/ReIDEvalTests/Fixtures]
"""
import argparse
import json
import math
import os
import random

import numpy as np

MARGIN = 1e-4  # least gap (normalized squared distance / final distance) at any deciding boundary


class Stream:
    """Normal deviates from Python's own Mersenne Twister (random.Random, whose
    random() sequence for a seed is the same in every Python 3), by Box-Muller."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def uniform(self):
        return 1.0 - self.rng.random()  # in (0, 1]

    def normal(self, shape):
        out = np.empty(int(np.prod(shape)))
        for i in range(out.size):
            u, v = self.uniform(), self.uniform()
            out[i] = math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)
        return out.reshape(shape)


def re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3, dtype=np.float64):
    """torchreid.utils.rerank.re_ranking, with its float32 casts made `dtype` and a stable argsort."""
    original_dist = np.concatenate(
        [np.concatenate([q_q_dist, q_g_dist], axis=1), np.concatenate([q_g_dist.T, g_g_dist], axis=1)], axis=0)
    original_dist = np.power(original_dist, 2).astype(dtype)
    original_dist = np.transpose(1. * original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(dtype)
    initial_rank = np.argsort(original_dist, kind="stable").astype(np.int32)

    query_num = q_g_dist.shape[0]
    gallery_num = q_g_dist.shape[0] + q_g_dist.shape[1]
    all_num = gallery_num

    for i in range(all_num):
        # k-reciprocal neighbors
        forward_k_neigh_index = initial_rank[i, :k1 + 1]
        backward_k_neigh_index = initial_rank[forward_k_neigh_index, :k1 + 1]
        fi = np.where(backward_k_neigh_index == i)[0]
        k_reciprocal_index = forward_k_neigh_index[fi]
        k_reciprocal_expansion_index = k_reciprocal_index
        for j in range(len(k_reciprocal_index)):
            candidate = k_reciprocal_index[j]
            candidate_forward_k_neigh_index = initial_rank[candidate, :int(np.around(k1 / 2.)) + 1]
            candidate_backward_k_neigh_index = initial_rank[candidate_forward_k_neigh_index,
                                                            :int(np.around(k1 / 2.)) + 1]
            fi_candidate = np.where(candidate_backward_k_neigh_index == candidate)[0]
            candidate_k_reciprocal_index = candidate_forward_k_neigh_index[fi_candidate]
            if len(np.intersect1d(candidate_k_reciprocal_index, k_reciprocal_index)) > 2. / 3 * len(
                    candidate_k_reciprocal_index):
                k_reciprocal_expansion_index = np.append(k_reciprocal_expansion_index, candidate_k_reciprocal_index)

        k_reciprocal_expansion_index = np.unique(k_reciprocal_expansion_index)
        weight = np.exp(-original_dist[i, k_reciprocal_expansion_index])
        V[i, k_reciprocal_expansion_index] = 1. * weight / np.sum(weight)
    original_dist = original_dist[:query_num, ]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=dtype)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
        del V_qe
    del initial_rank
    invIndex = []
    for i in range(gallery_num):
        invIndex.append(np.where(V[:, i] != 0)[0])

    jaccard_dist = np.zeros_like(original_dist, dtype=dtype)

    for i in range(query_num):
        temp_min = np.zeros(shape=[1, gallery_num], dtype=dtype)
        indNonZero = np.where(V[i, :] != 0)[0]
        indImages = [invIndex[ind] for ind in indNonZero]
        for j in range(len(indNonZero)):
            temp_min[0, indImages[j]] = temp_min[0, indImages[j]] + np.minimum(V[i, indNonZero[j]],
                                                                               V[indImages[j], indNonZero[j]])
        jaccard_dist[i] = 1 - temp_min / (2. - temp_min)

    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    del original_dist, V, jaccard_dist
    final_dist = final_dist[:query_num, query_num:]
    return final_dist


def distances(a, b, metric):
    """What re_ranking is given: Euclidean distance, or cosine distance 1 - cos."""
    if metric == "euclidean":
        return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0))
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1 - an @ bn.T


def evaluate(dist, qp, gp, qc, gc, max_rank=50):
    """torchreid / fast-reid protocol; ties go to the lower gallery index."""
    cmcs, aps, inps = [], [], []
    r = min(max_rank, dist.shape[1])
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind="stable")
        keep = ~((gp[order] == qp[i]) & (gc[order] == qc[i])) & (gp[order] != -1)
        raw = (gp[order][keep] == qp[i]).astype(np.float64)
        if not raw.any():
            continue
        cmc = np.minimum(raw.cumsum(), 1)
        cmcs.append(np.concatenate([cmc, np.ones(max(0, r - len(cmc)))])[:r])
        aps.append(((raw.cumsum() / (np.arange(len(raw)) + 1)) * raw).sum() / raw.sum())
        inps.append(raw.sum() / (np.where(raw == 1)[0].max() + 1))
    return {"cmc": np.mean(cmcs, 0).tolist(), "mAP": float(np.mean(aps)), "mINP": float(np.mean(inps)),
            "numValidQueries": len(cmcs)}


def neighbour_margin(q, g, metric, k1, k2):
    """Least gap in each row's sorted normalized squared distances at ranks k2, k1/2 + 1, k1 + 1."""
    feats = np.concatenate([q, g])
    d = distances(feats, feats, metric) ** 2
    d = d / d.max(axis=1, keepdims=True)
    s = np.sort(d, axis=1)
    n = len(feats)
    bounds = [b for b in {k2, int(np.around(k1 / 2.)) + 1, k1 + 1} if 0 < b < n]
    return min((s[:, b] - s[:, b - 1]).min() for b in bounds) if bounds else math.inf


def ranking_margin(dist, qp, gp, qc, gc):
    """Least |positive - negative| distance gap over the items each query ranks."""
    gaps = [math.inf]
    for i in range(dist.shape[0]):
        keep = ~((gp == qp[i]) & (gc == qc[i])) & (gp != -1)
        pos, neg = dist[i][keep & (gp == qp[i])], dist[i][keep & (gp != qp[i])]
        if len(pos) and len(neg):
            gaps.append(np.abs(pos[:, None] - neg[None, :]).min())
    return min(gaps)


def build(rng, nq, ng, dim, layout):
    """Features around identity centres; `layout` gives (query (pid, cam)s, gallery (pid, cam)s)."""
    qlab, glab = layout
    pids = sorted({p for p, _ in qlab + glab if p > 0})
    centres = {p: rng.normal((dim,)) for p in pids}
    cam_shift = {c: 0.5 * rng.normal((dim,)) for c in range(4)}

    def feats(labels):
        out = []
        for p, c in labels:
            base = centres[p] if p > 0 else 1.2 * rng.normal((dim,))
            out.append(base + cam_shift[c] + 0.9 * rng.normal((dim,)))
        return np.array(out).astype(np.float32)

    q, g = feats(qlab), feats(glab)
    assert q.shape == (nq, dim) and g.shape == (ng, dim)
    return q, g


def market_layout():
    # Gallery: pids 1-9 with 2 to 6 images over cameras 0-3, 3 distractors, 2 junk items.
    gallery = [(1, 1), (1, 2), (1, 3), (2, 0), (2, 2), (3, 1), (3, 2), (3, 3), (3, 0), (4, 1), (4, 3),
               (5, 0), (5, 1), (5, 2), (5, 3), (5, 2), (6, 2), (6, 3), (7, 0), (7, 1), (7, 3), (8, 0),
               (8, 0), (9, 1), (9, 2), (9, 3), (9, 0), (2, 3), (4, 0), (6, 1), (1, 0), (3, 3), (7, 2),
               (8, 0), (0, 1), (0, 2), (0, 3), (-1, 0), (-1, 2), (6, 0)]
    # Queries: pid 8's gallery images are all in camera 0, like its query (skipped); pid 10
    # has no gallery image (skipped); pids 1 and 3 have two queries each.
    query = [(1, 0), (2, 0), (3, 1), (4, 2), (5, 0), (6, 0), (7, 2), (8, 0), (9, 0), (1, 2), (10, 1), (3, 0)]
    return query, gallery


def tiny_layout():
    gallery = [(1, 1), (1, 2), (2, 0), (2, 2), (3, 0), (3, 1), (1, 3), (0, 1), (2, 3), (3, 3)]
    query = [(1, 0), (2, 1), (3, 2)]
    return query, gallery


def problem(name, seed, nq, ng, dim, layout, settings):
    rng = Stream(seed)
    q, g = build(rng, nq, ng, dim, layout)
    qp, qc = (np.array(x) for x in zip(*layout[0]))
    gp, gc = (np.array(x) for x in zip(*layout[1]))
    qd, gd = q.astype(np.float64), g.astype(np.float64)
    cases, margins = [], []
    for metric, k1, k2, lam in settings:
        margins.append(neighbour_margin(qd, gd, metric, k1, k2))
        dist = re_ranking(distances(qd, gd, metric), distances(qd, qd, metric), distances(gd, gd, metric),
                          k1=k1, k2=k2, lambda_value=lam)
        margins.append(ranking_margin(dist, qp, gp, qc, gc))
        cases.append({"metric": metric, "k1": k1, "k2": k2, "lambda": lam,
                      "distances": [float(f"{v:.12g}") for v in dist.ravel()],
                      **evaluate(dist, qp, gp, qc, gc)})
    return {"name": name, "seed": seed, "dim": dim,
            "query": [float(v) for v in q.ravel()], "gallery": [float(v) for v in g.ravel()],
            "queryPids": qp.tolist(), "queryCams": qc.tolist(), "galleryPids": gp.tolist(), "galleryCams": gc.tolist(),
            "cases": cases}, min(margins)


def first_separated(name, nq, ng, dim, layout, settings):
    for seed in range(1000):
        p, margin = problem(name, seed, nq, ng, dim, layout, settings)
        if margin > MARGIN:
            print(f"{name}: seed {seed}, least deciding gap {margin:.2e}")
            return p
    raise SystemExit(f"{name}: no seed below 1000 separates every boundary by {MARGIN}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "ReIDEvalTests", "Fixtures"))
    a = ap.parse_args()
    defaults = [("euclidean", 20, 6, 0.3), ("cosine", 20, 6, 0.3)]
    problems = [
        first_separated("market", 12, 40, 16, market_layout(), defaults + [("euclidean", 9, 3, 0.3), ("cosine", 4, 8, 0.5)]),
        first_separated("tiny", 3, 10, 8, tiny_layout(), defaults),
    ]
    for p in problems:
        for c in p["cases"]:
            print(f"  {p['name']} {c['metric']} k1 {c['k1']} k2 {c['k2']}: rank-1 {c['cmc'][0]:.4f} "
                  f"mAP {c['mAP']:.4f} mINP {c['mINP']:.4f} ({c['numValidQueries']} valid queries)")
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "rerank_reference.json")
    with open(path, "w") as f:
        json.dump({"generator": "benchmarks/make_rerank_fixture.py", "problems": problems}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
