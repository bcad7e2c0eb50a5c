#!/usr/bin/python3
"""NumPy reference for the transfer measures of `collapse probe`
(src/analysis/transfer.c, ridge.c), computed the direct way in float64:
boolean masks per class, np.linalg.solve for the ridge system, argmin of
squared distances for nearest-class-centre. Sources: Galanti, Gyorgy &
Hutter, ICLR 2022 (CDNV eq. 1, few-shot NCC sec. 4); conventions in
include/collapse/transfer.h and docs/METRICS.md ("Transfer (probe)").

- CDNV: V(i, j) = (Var_i + Var_j) / (2 ||mu_i - mu_j||^2), Var_c the mean of
  ||h - mu_c||^2 over class c; the mean over pairs i < j and the max.
- ridge probe for a fixed lam_rel: Xc = H - mean(H_train), Y = one-hot - 1/K,
  W = (Xc^T Xc + lam I)^-1 Xc^T Y, lam = lam_rel tr(Xc^T Xc) / dim; the class
  is the first argmax of (h - mean) W; the test accuracy.
- NCC episode for given support rows idx [K, shots]: the centres are their
  means, each query goes to the nearest centre (first on ties); the accuracy.
  (The C episodes' draws use collapse's own RNG; cl_fewshot_draws exports them
  and the test feeds them to cl_ncc_episode, which this checks.)

    /usr/bin/python3 tools/transfer_reference.py --write tests/fixtures/transfer
        regenerates the committed fixtures (inputs + expected outputs)
    /usr/bin/python3 tools/transfer_reference.py DIR
        prints the measures of a fixture folder DIR (Htr.npy ytr.npy Hte.npy yte.npy
        episodes.npy), one "name value" per line
"""
import argparse
import os

import numpy as np

LAMBDAS = np.array([1e-4, 1e-2, 1.0])


def cdnv(H, y, K):
    H = H.astype(np.float64)
    mu = [H[y == c].mean(axis=0) for c in range(K)]
    var = [np.mean(np.sum((H[y == c] - mu[c]) ** 2, axis=1)) for c in range(K)]
    v = [(var[i] + var[j]) / (2 * np.sum((mu[i] - mu[j]) ** 2))
         for i in range(K) for j in range(i + 1, K)]
    return float(np.mean(v)), float(np.max(v))


def ridge(Htr, ytr, Hte, yte, K, lam_rel):
    Htr, Hte = Htr.astype(np.float64), Hte.astype(np.float64)
    m = Htr.mean(axis=0)
    X = Htr - m
    Y = np.eye(K)[ytr] - 1.0 / K
    G = X.T @ X
    tr = np.trace(G)
    lam = lam_rel * (tr / X.shape[1] if tr > 0 else 1.0)
    W = np.linalg.solve(G + lam * np.eye(X.shape[1]), X.T @ Y)
    S = (Hte - m) @ W
    top2 = np.sort(S, axis=1)[:, -2:]
    margin = float(np.min(top2[:, 1] - top2[:, 0]))  # how far from a tie
    return float(np.mean(np.argmax(S, axis=1) == yte)), margin


def ncc_episode(Hs, idx, Hq, yq):
    Hs, Hq = Hs.astype(np.float64), Hq.astype(np.float64)
    mu = np.stack([Hs[row].mean(axis=0) for row in idx])  # idx [K, shots]
    D = np.sum((Hq[:, None, :] - mu[None, :, :]) ** 2, axis=2)
    Ds = np.sort(D, axis=1)
    margin = float(np.min(Ds[:, 1] - Ds[:, 0]))
    return float(np.mean(np.argmin(D, axis=1) == yq)), margin


def measures(Htr, ytr, Hte, yte, eps):
    K = int(ytr.max()) + 1
    out = {}
    out["cdnv_train_mean"], out["cdnv_train_max"] = cdnv(Htr, ytr, K)
    out["cdnv_test_mean"], out["cdnv_test_max"] = cdnv(Hte, yte, K)
    ridge_acc, margins = [], []
    for lam in LAMBDAS:
        a, mg = ridge(Htr, ytr, Hte, yte, K, lam)
        ridge_acc.append(a)
        margins.append(mg)
    ncc = []
    for e in eps:
        a, mg = ncc_episode(Htr, e, Hte, yte)
        ncc.append(a)
        margins.append(mg)
    return out, np.array(ridge_acc), np.array(ncc), min(margins)


def make_case(rng, sizes, test_per, D, spread, shots, E, offset=0.0):
    """Gaussian classes around random means (spread apart), unequal training
    sizes, E episodes of `shots` distinct training rows per class."""
    K = len(sizes)
    mu = spread * rng.normal(size=(K, D))
    Htr = np.concatenate([mu[c] + rng.normal(size=(n, D)) for c, n in enumerate(sizes)])
    ytr = np.concatenate([np.full(n, c) for c, n in enumerate(sizes)])
    Hte = np.concatenate([mu[c] + rng.normal(size=(test_per, D)) for c in range(K)])
    yte = np.repeat(np.arange(K), test_per)
    p, q = rng.permutation(len(ytr)), rng.permutation(len(yte))
    Htr, ytr = (Htr[p] + offset).astype(np.float32), ytr[p].astype(np.int32)
    Hte, yte = (Hte[q] + offset).astype(np.float32), yte[q].astype(np.int32)
    eps = np.stack([np.stack([rng.choice(np.flatnonzero(ytr == c), size=shots, replace=False)
                              for c in range(K)]) for _ in range(E)]).astype(np.int32)
    return Htr, ytr, Hte, yte, eps


def write_fixtures(out):
    rng = np.random.default_rng(20261301)
    cases = [("blobs", ([30] * 5, 20, 8, 0.8, 3, 6)),
             ("wide", ([8, 6, 10, 7], 15, 40, 0.35, 5, 4)),
             ("offset", ([12, 9, 15], 25, 5, 1.0, 1, 8, 100.0))]
    os.makedirs(out, exist_ok=True)
    for name, args in cases:
        while True:  # redraw a case whose predictions sit within rounding of a tie
            Htr, ytr, Hte, yte, eps = make_case(rng, *args)
            keys, racc, ncc, margin = measures(Htr, ytr, Hte, yte, eps)
            if margin > 1e-6:
                break
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for f, a in (("Htr", Htr), ("ytr", ytr), ("Hte", Hte), ("yte", yte),
                     ("episodes", eps), ("lambdas", LAMBDAS), ("ridge_acc", racc),
                     ("ncc_acc", ncc), ("cdnv", np.array(list(keys.values())))):
            np.save(os.path.join(d, f + ".npy"), a)
        print(name, {k: round(v, 6) for k, v in keys.items()}, "ridge", racc, "ncc", ncc,
              "min margin %.3g" % margin)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--write", metavar="DIR", help="regenerate the fixtures into DIR")
    ap.add_argument("dir", nargs="?", help="a fixture folder")
    a = ap.parse_args()
    if a.write:
        write_fixtures(a.write)
        return
    if not a.dir:
        ap.error("need a fixture folder (or --write DIR)")
    ld = lambda f: np.load(os.path.join(a.dir, f + ".npy"))
    keys, racc, ncc, _ = measures(ld("Htr"), ld("ytr"), ld("Hte"), ld("yte"), ld("episodes"))
    for k, v in keys.items():
        print(f"{k} {v:.17g}")
    for lam, v in zip(LAMBDAS, racc):
        print(f"ridge_acc[{lam:g}] {v:.17g}")
    for e, v in enumerate(ncc):
        print(f"ncc_acc[{e}] {v:.17g}")


if __name__ == "__main__":
    main()
