#!/usr/bin/env python3
"""torchreid's evaluation on the same kind of random problem as `reidprune bench eval`:
torchreid's compute_distance_matrix (torch, euclidean), its eval_market1501 (the
Python implementation; PyPI's torchreid 0.2.5 source distribution lacks the .pyx of the
Cython one) and optionally its k-reciprocal re_ranking (NumPy), timed with the given
thread count. torchreid's modules are loaded from its source distribution:

    pip download --no-deps -d /tmp/tr torchreid && tar xzf /tmp/tr/torchreid-0.2.5.tar.gz -C /tmp/tr
    python benchmarks/torchreid_eval.py --src /tmp/tr/torchreid-0.2.5 [--threads 2] [--rerank]
"""
import argparse
import importlib.util
import resource
import time
import warnings

import numpy as np
import torch


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--queries", type=int, default=3368)
    ap.add_argument("--gallery", type=int, default=15913)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--ids", type=int, default=751)
    ap.add_argument("--noise", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rerank", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.simplefilter("ignore")
    base = a.src + "/torchreid/reid/"
    distance = load(base + "metrics/distance.py", "tr_distance")
    rank = load(base + "metrics/rank.py", "tr_rank")
    rng = np.random.default_rng(42)
    centers = rng.uniform(-0.5, 0.5, (a.ids, a.dim)).astype(np.float32)

    def make(n, off):
        pids = rng.integers(0, a.ids, n)
        f = centers[pids] + a.noise * rng.uniform(-0.5, 0.5, (n, a.dim)).astype(np.float32)
        return torch.from_numpy(f), pids + 1, (np.arange(n) + off) % 6

    qf, qp, qc = make(a.queries, 0)
    gf, gp, gc = make(a.gallery, 3)
    t0 = time.perf_counter()
    dist = distance.compute_distance_matrix(qf, gf, "euclidean").numpy()
    t1 = time.perf_counter()
    cmc, mAP = rank.evaluate_rank(dist, qp, gp, qc, gc, max_rank=50, use_cython=False)
    t2 = time.perf_counter()
    print(f"torchreid {a.queries} x {a.gallery}, {a.dim}-d, {a.threads} threads: distances {t1 - t0:.2f} s, "
          f"ranking (Python) {t2 - t1:.2f} s, total {t2 - t0:.2f} s (rank-1 {cmc[0]:.3f}, mAP {mAP:.3f})")
    if a.rerank:
        rerank = load(base + "utils/rerank.py", "tr_rerank")
        t3 = time.perf_counter()
        qq = distance.compute_distance_matrix(qf, qf, "euclidean").numpy()
        gg = distance.compute_distance_matrix(gf, gf, "euclidean").numpy()
        final = rerank.re_ranking(dist, qq, gg)
        t4 = time.perf_counter()
        print(f"torchreid re_ranking: {t4 - t3:.1f} s, peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
