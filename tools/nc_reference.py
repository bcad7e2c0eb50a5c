#!/usr/bin/python3
"""NumPy reference for the collapse analyzer (src/analysis/nc.c), computed the
slow way: explicit D x D Sw and Sb, eigen-truncated pseudo-inverse of Sb,
explicit loops over samples, classes and class pairs. Formulas: docs/METRICS.md.

Run with the Debian interpreter (it has numpy):

    /usr/bin/python3 tools/nc_reference.py --write tests/fixtures/nc
        regenerates the committed fixtures (inputs + expected outputs)
    /usr/bin/python3 tools/nc_reference.py H.npy y.npy [W.npy [b.npy]] [--weighted-mean] [--nc4-no-bias]
        [--gnc] [--minority-classes 5,7,9]
        prints every metric of the given files, one "key value" per line
"""
import argparse
import os
import sys

import numpy as np

KEYS = ["nc1", "D", "nc1_quotient", "cdnv", "equinorm_M", "equinorm_W", "equiangular_M",
        "equiangular_W", "maxangle_M", "maxangle_W", "etf_M", "etf_W", "nc3", "nc3_zhu",
        "nc4", "ncc_acc", "acc",
        # imbalance group (Fang, He, Long & Su, PNAS 2021)
        "minority_cos_W", "minority_cos_M", "majority_cos_W", "majority_cos_M",
        # gnc group (Jiang, Zhou et al. ICML 2024; Liu et al. 2023)
        "gnc1", "gnc2", "gnc3", "hsu_log_mean", "hsu_log_var"]
IMBALANCE_KEYS = KEYS[17:21]
RANK_TOL = 1e-12  # CL_NC_RANK_TOL of include/collapse/nc.h
GNC_KEYS = KEYS[21:]


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


def mean_pair_cos(V, members):
    """Mean cosine over pairs i < j of the rows of V listed in members (nan if < 2)."""
    cs = []
    for a in range(len(members)):
        for c in range(a + 1, len(members)):
            u, v = V[members[a]], V[members[c]]
            cs.append(np.dot(u, v) / np.sqrt(np.dot(u, u) * np.dot(v, v)))
    return np.mean(cs) if cs else np.nan


def imbalance(M, W, counts, minority):
    """minority_cos_W, minority_cos_M, majority_cos_W, majority_cos_M; None when
    the classes are balanced and no explicit minority set is given."""
    K = len(counts)
    if minority is None:
        if counts.min() == counts.max():
            return None
        minority = counts < counts.max()
    minority = np.asarray(minority, dtype=bool)
    mino = [c for c in range(K) if minority[c]]
    majo = [c for c in range(K) if not minority[c]]
    cw = (lambda m: mean_pair_cos(W, m)) if W is not None else (lambda m: np.nan)
    return [cw(mino), mean_pair_cos(M, mino), cw(majo), mean_pair_cos(M, majo)]


def hull_distance(p, Q):
    """Distance from point p to the convex hull of the rows of Q, exactly, by
    enumerating every face: for each subset S of rows, project p on the affine
    hull of S (least squares); keep the projections whose barycentric weights
    are >= 0; the nearest of them is the nearest point of the hull."""
    m = Q.shape[0]
    best = np.inf
    for mask in range(1, 1 << m):
        S = Q[[j for j in range(m) if mask >> j & 1]]
        B = (S[1:] - S[0]).T
        if B.shape[1]:
            t = np.linalg.lstsq(B, p - S[0], rcond=None)[0]
            lam = np.concatenate([[1 - t.sum()], t])
        else:
            lam = np.ones(1)
        if (lam < -1e-12).any():
            continue
        best = min(best, np.linalg.norm(p - lam @ S))
    return best


def gnc(H, y, K, M, W, weighted_mean):
    """gnc1, gnc2, gnc3, hsu_log_mean, hsu_log_var."""
    nrm = np.sqrt((H * H).sum(axis=1))
    Hn = H / np.where(nrm > 0, nrm, 1.0)[:, None]  # zero rows stay zero
    try:
        g1 = analyze(Hn, y, K, weighted_mean=weighted_mean)[0]
    except (SystemExit, np.linalg.LinAlgError):
        g1 = np.nan
    U = M / np.linalg.norm(M, axis=1)[:, None]
    logs = np.array([-np.log(np.linalg.norm(U[i] - U[j]))
                     for i in range(K) for j in range(i + 1, K)])
    if W is None:
        g2 = g3 = np.nan
    else:
        Wn = W / np.linalg.norm(W, axis=1)[:, None]
        g2 = min(hull_distance(Wn[k], np.delete(Wn, k, axis=0)) for k in range(K))
        g3 = np.mean([1 - np.dot(W[k], M[k]) / (np.linalg.norm(W[k]) * np.linalg.norm(M[k]))
                      for k in range(K)])
    return [g1, g2, g3, logs.mean(), logs.var()]


def analyze(H, y, K, W=None, b=None, weighted_mean=False, nc4_bias=True, minority=None,
            with_gnc=False, return_rank=False):
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
    # Pseudo-inverse on the top min(K-1, D) eigenpairs; the class means are
    # rank-deficient (NC1 and D undefined: nan) when one of them is at most
    # RANK_TOL times the largest (the analyzer's CL_NC_RANK_TOL).
    lam, V = np.linalg.eigh(Sb)
    keep = min(K - 1, D)
    out = {}
    out["rank_M"] = int(np.sum(lam[-keep:] > RANK_TOL * lam[-1])) if lam[-1] > 0 else 0
    lam, V = lam[-keep:], V[:, -keep:]
    if out["rank_M"] == keep:
        out["D"] = np.trace(Sw @ (V @ np.diag(1.0 / lam) @ V.T))
    else:
        out["D"] = np.nan
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
    imb = imbalance(M, W, counts, minority)
    for k, v in zip(IMBALANCE_KEYS, imb if imb is not None else [np.nan] * 4):
        out[k] = v
    g = gnc(H, y, K, M, W, weighted_mean) if with_gnc else [np.nan] * 5
    for k, v in zip(GNC_KEYS, g):
        out[k] = v
    if return_rank:
        return np.array([out[k] for k in KEYS]), out["rank_M"]
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


def rank_deficient_cases(rng):
    """Class means of rank < min(K-1, D), where NC1 and D are undefined.
    shared: K = 6, D = 10, classes 4 and 5 have the same samples in the same
    order (so the same mean, exactly: rank 4 < 5), small-integer features so
    every sum is exact; collinear: K = 5, D = 8, means t_q v + c on one line
    (rank 1 < 4) with noise in +-pairs so every class mean is exact."""
    cases = []
    K, D, n = 6, 10, 24
    base = rng.integers(-6, 7, size=(5, D))
    X = [base[c] + rng.integers(-4, 5, size=(n, D)) for c in range(5)]
    X.append(X[4].copy())
    H = np.concatenate(X).astype(np.float32)
    y = np.repeat(np.arange(K), n)
    W = (base[np.minimum(np.arange(K), 4)] - base.mean(axis=0)
         + rng.normal(0, 0.5, size=(K, D))).astype(np.float32)
    b = rng.normal(0, 0.5, size=K).astype(np.float32)
    cases.append(("shared", H, y.astype(np.int64), W, b))
    K, D = 5, 8
    v, c0 = rng.integers(-3, 4, size=D), rng.integers(-3, 4, size=D)
    means = np.array([0, 1, 2, 4, 8])[:, None] * v + c0  # no mean at mu_G
    X, y = [], []
    for q, m in enumerate([20, 26, 30, 36, 40]):
        e = np.round(rng.normal(0, 1.5, size=(m // 2, D)) * 8) / 8
        X.append(means[q] + np.concatenate([e, -e]))  # noise sums to 0 exactly
        y.append(np.full(m, q))
    perm = rng.permutation(sum(len(a) for a in y))
    H = np.concatenate(X)[perm].astype(np.float32)
    y = np.concatenate(y)[perm]
    W = (means - means.mean(axis=0) + rng.normal(0, 0.3, size=(K, D))).astype(np.float32)
    b = rng.normal(0, 0.5, size=K).astype(np.float32)
    cases.append(("collinear", H, y.astype(np.int64), W, b))
    return cases


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
    cases += rank_deficient_cases(rng)
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
        np.save(os.path.join(d, "expected_minority.npy"),
                analyze(H, yy, K, W, b, minority=np.arange(K) % 2 == 1))
        np.save(os.path.join(d, "expected_gnc.npy"), analyze(H, yy, K, W, b, with_gnc=True))
        np.save(os.path.join(d, "expected_gnc_noW.npy"),
                analyze(H, yy, K, weighted_mean=True, with_gnc=True))
        if name in ("shared", "collinear"):
            np.save(os.path.join(d, "expected_rank.npy"),
                    np.array([analyze(H, yy, K, return_rank=True)[1],
                              analyze(H, yy, K, weighted_mean=True, return_rank=True)[1]],
                             dtype=np.float64))
    Ds = np.array([41.0, 30.5, 19.2, 14.9, 9.7, 7.1, 4.4, 3.6])
    np.save(os.path.join(out, "fit_D.npy"), Ds)
    np.save(os.path.join(out, "fit_expected.npy"), fit(Ds))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--write", metavar="DIR", help="regenerate the fixtures into DIR")
    ap.add_argument("files", nargs="*", help="H.npy y.npy [W.npy [b.npy]]")
    ap.add_argument("--weighted-mean", action="store_true")
    ap.add_argument("--nc4-no-bias", action="store_true")
    ap.add_argument("--gnc", action="store_true", help="also the gnc keys")
    ap.add_argument("--minority-classes", help="explicit minority set, e.g. 5,7,9")
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
    minority = None
    if a.minority_classes:
        minority = np.zeros(K, dtype=bool)
        minority[[int(c) for c in a.minority_classes.split(",")]] = True
    v = analyze(H, y, K, W, b, a.weighted_mean, not a.nc4_no_bias, minority, a.gnc)
    for k, x in zip(KEYS, v):
        print(f"{k} {x:.17g}")


if __name__ == "__main__":
    sys.exit(main())
