#!/usr/bin/python3
"""NumPy reference for the collapse analyzer (src/analysis/nc.c), computed the
slow way: explicit D x D Sw and Sb, eigen-truncated pseudo-inverse of Sb,
explicit loops over samples, classes and class pairs. Formulas: docs/METRICS.md.

Run with the Debian interpreter (it has numpy):

    /usr/bin/python3 tools/nc_reference.py --write tests/fixtures/nc
        regenerates the committed fixtures (inputs + expected outputs)
    /usr/bin/python3 tools/nc_reference.py H.npy y.npy [W.npy [b.npy]] [--weighted-mean] [--nc4-no-bias]
        prints every metric of the given files, one "key value" per line
"""
import argparse
import os
import sys

import numpy as np

KEYS = ["nc1", "D", "nc1_quotient", "cdnv", "equinorm_M", "equinorm_W", "equiangular_M",
        "equiangular_W", "maxangle_M", "maxangle_W", "etf_M", "etf_W", "nc3", "nc3_zhu",
        "nc4", "ncc_acc", "acc"]


def etf_distance(G):
    K = G.shape[0]
    target = (np.eye(K) - np.ones((K, K)) / K) / np.sqrt(K - 1)
    return np.linalg.norm(G / np.linalg.norm(G) - target)


def nc2(V):
    """equinorm, equiangular, maxangle, etf of the rows of V (K x D)."""
    K = V.shape[0]
    norms = np.array([np.sqrt(np.dot(v, v)) for v in V])
    equinorm = norms.std(ddof=0) / norms.mean()  # population std
    cos = []
    for i in range(K):
        for j in range(K):
            if i != j:
                cos.append(np.dot(V[i], V[j]) / (norms[i] * norms[j]))
    cos = np.array(cos)
    equiangular = cos.std(ddof=0)
    maxangle = np.mean(np.abs(cos + 1.0 / (K - 1)))
    etf = etf_distance(V @ V.T)
    return equinorm, equiangular, maxangle, etf


def analyze(H, y, K, W=None, b=None, weighted_mean=False, nc4_bias=True):
    H = H.reshape(H.shape[0], -1).astype(np.float64)
    N, D = H.shape
    mu = np.zeros((K, D))
    counts = np.zeros(K, dtype=np.int64)
    for i in range(N):
        mu[y[i]] += H[i]
        counts[y[i]] += 1
    if (counts == 0).any():
        raise SystemExit("a class has no samples")
    mu /= counts[:, None]
    muG = H.mean(axis=0) if weighted_mean else mu.mean(axis=0)
    M = mu - muG

    Sw = np.zeros((D, D))
    for i in range(N):
        r = H[i] - mu[y[i]]
        Sw += np.outer(r, r)
    Sw /= N
    Sb = np.zeros((D, D))
    for c in range(K):
        Sb += np.outer(M[c], M[c])
    Sb /= K
    # Pseudo-inverse on the top K-1 eigenpairs (no tolerance).
    lam, V = np.linalg.eigh(Sb)
    keep = min(K - 1, D)
    lam, V = lam[-keep:], V[:, -keep:]
    Sb_pinv = V @ np.diag(1.0 / lam) @ V.T
    out = {}
    out["D"] = np.trace(Sw @ Sb_pinv)
    out["nc1"] = out["D"] / K
    out["nc1_quotient"] = np.trace(Sw) / np.trace(Sb)

    var = np.zeros(K)
    for i in range(N):
        r = H[i] - mu[y[i]]
        var[y[i]] += np.dot(r, r)
    var /= counts
    pairs = []
    for i in range(K):
        for j in range(i + 1, K):
            d = mu[i] - mu[j]
            pairs.append((var[i] + var[j]) / (2 * np.dot(d, d)))
    out["cdnv"] = np.mean(pairs)

    out["equinorm_M"], out["equiangular_M"], out["maxangle_M"], out["etf_M"] = nc2(M)

    ncc = np.array([np.argmin([np.sum((H[i] - mu[c]) ** 2) for c in range(K)])
                    for i in range(N)])
    out["ncc_acc"] = np.mean(ncc == y)
    if W is not None:
        W = W.astype(np.float64)
        out["equinorm_W"], out["equiangular_W"], out["maxangle_W"], out["etf_W"] = nc2(W)
        out["nc3"] = np.linalg.norm(W / np.linalg.norm(W) - M / np.linalg.norm(M)) ** 2
        out["nc3_zhu"] = etf_distance(W @ M.T)
        bias = b.astype(np.float64) if (b is not None and nc4_bias) else np.zeros(K)
        cls = np.array([np.argmax(W @ H[i] + bias) for i in range(N)])
        out["nc4"] = np.mean(cls != ncc)
        out["acc"] = np.mean(cls == y)
    else:
        for k in ["equinorm_W", "equiangular_W", "maxangle_W", "etf_W", "nc3", "nc3_zhu",
                  "nc4", "acc"]:
            out[k] = np.nan
    return np.array([out[k] for k in KEYS])


def fit(Ds):
    """He & Su: least-squares line of ln D_l against l; slope, intercept, rho, R^2, r."""
    L = len(Ds)
    x = np.arange(L, dtype=np.float64)
    ly = np.log(np.asarray(Ds, dtype=np.float64))
    slope, intercept = np.polyfit(x, ly, 1)
    res = ly - (intercept + slope * x)
    r2 = 1 - np.sum(res ** 2) / np.sum((ly - ly.mean()) ** 2)
    r = np.corrcoef(x, ly)[0, 1]
    return np.array([slope, intercept, np.exp(slope), r2, r])


def make_case(rng, counts, D, K, spread, noise, wnoise):
    """Class means at random directions, Gaussian noise, W a noisy copy of M."""
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    rng.shuffle(y)
    means = rng.normal(0, spread, size=(K, D)) + rng.normal(0, 1.0, size=D)
    H = means[y] + rng.normal(0, noise, size=(len(y), D))
    H = H.astype(np.float32)
    M = means - means.mean(axis=0)
    W = (M + rng.normal(0, wnoise, size=(K, D))).astype(np.float32)
    b = rng.normal(0, 0.5, size=K).astype(np.float32)
    return H, y, W, b


def write_fixtures(out):
    rng = np.random.default_rng(20231123)
    cases = []
    # D < N, balanced, int64 labels
    H, y, W, b = make_case(rng, [50] * 6, 24, 6, 1.0, 1.2, 0.6)
    cases.append(("tall", H, y.astype(np.int64), W, b))
    # D > N, balanced, float64 features (exact float32 values), int32 labels
    H, y, W, b = make_case(rng, [10] * 4, 120, 4, 0.3, 1.0, 0.3)
    cases.append(("wide", H.astype(np.float64), y.astype(np.int32), W, b))
    # unbalanced, uint8 labels
    H, y, W, b = make_case(rng, [5, 12, 30, 50, 60], 10, 5, 1.0, 1.5, 0.8)
    cases.append(("unbal", H, y.astype(np.uint8), W, b))
    # N x C x H x W features (flattened by the analyzer), K = 3
    H, y, W, b = make_case(rng, [16, 16, 16], 18, 3, 0.8, 1.0, 0.5)
    cases.append(("conv", H.reshape(48, 2, 3, 3), y.astype(np.int64), W, b))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "keys.txt"), "w") as f:
        f.write("\n".join(KEYS) + "\n")
    for name, H, y, W, b in cases:
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "H.npy"), H)
        np.save(os.path.join(d, "y.npy"), y)
        np.save(os.path.join(d, "W.npy"), W)
        np.save(os.path.join(d, "b.npy"), b)
        K = W.shape[0]
        yy = y.astype(np.int64)
        np.save(os.path.join(d, "expected_unweighted.npy"), analyze(H, yy, K, W, b))
        np.save(os.path.join(d, "expected_weighted.npy"),
                analyze(H, yy, K, W, b, weighted_mean=True))
        np.save(os.path.join(d, "expected_nobias.npy"), analyze(H, yy, K, W, b, nc4_bias=False))
        np.save(os.path.join(d, "expected_noW.npy"), analyze(H, yy, K))
    Ds = np.array([41.0, 30.5, 19.2, 14.9, 9.7, 7.1, 4.4, 3.6])
    np.save(os.path.join(out, "fit_D.npy"), Ds)
    np.save(os.path.join(out, "fit_expected.npy"), fit(Ds))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--write", metavar="DIR", help="regenerate the fixtures into DIR")
    ap.add_argument("files", nargs="*", help="H.npy y.npy [W.npy [b.npy]]")
    ap.add_argument("--weighted-mean", action="store_true")
    ap.add_argument("--nc4-no-bias", action="store_true")
    a = ap.parse_args()
    if a.write:
        write_fixtures(a.write)
        return
    if len(a.files) < 2:
        ap.error("need H.npy and y.npy (or --write DIR)")
    H = np.load(a.files[0])
    y = np.load(a.files[1]).astype(np.int64)
    W = np.load(a.files[2]) if len(a.files) > 2 else None
    b = np.load(a.files[3]) if len(a.files) > 3 else None
    K = W.shape[0] if W is not None else int(y.max()) + 1
    v = analyze(H, y, K, W, b, a.weighted_mean, not a.nc4_no_bias)
    for k, x in zip(KEYS, v):
        print(f"{k} {x:.17g}")


if __name__ == "__main__":
    sys.exit(main())
