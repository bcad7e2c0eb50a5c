#!/usr/bin/python3
"""NumPy reference for the regression-collapse analyzer (src/analysis/nrc.c),
computed the direct way: explicit normalised features, explicit projection
matrices from eigenvectors, explicit Sigma^{1/2}, and NRC3 minimised by a
dense grid over sqrt(gamma) refined by golden-section search (not the
closed form the C code uses). Source: Andriopoulos et al., NeurIPS 2024.
Conventions: include/collapse/nrc.h and docs/METRICS.md.

    /usr/bin/python3 tools/nrc_reference.py --write tests/fixtures/nrc
        regenerates the committed fixtures (inputs + expected outputs)
    /usr/bin/python3 tools/nrc_reference.py H.npy Y.npy W.npy [b.npy] [--uncentred]
        prints every key, one "key value" per line
"""
import argparse
import os

import numpy as np

KEYS = ["nrc1", "nrc2", "nrc3", "nrc3_gamma", "mse", "r2"]


def normalise(H, uncentred):
    H = H.reshape(H.shape[0], -1).astype(np.float64)
    Hc = H if uncentred else H - H.mean(axis=0)
    nrm = np.linalg.norm(Hc, axis=1, keepdims=True)
    return np.where(nrm > 0, Hc / np.where(nrm > 0, nrm, 1), 0.0)


def residual(Hn, P):
    R = Hn - Hn @ P.T
    return np.mean(np.sum(R * R, axis=1))


def nrc3(W, Y):
    A = W @ W.T
    Yc = Y - Y.mean(axis=0)
    Sigma = Yc.T @ Yc / Y.shape[0]  # population (1/M)
    lam, Q = np.linalg.eigh(Sigma)
    R = Q @ np.diag(np.sqrt(np.maximum(lam, 0))) @ Q.T
    n = A.shape[0]

    def dist(s):
        B = R - s * np.eye(n)
        fb = np.linalg.norm(B)
        if fb == 0:
            return np.inf
        return np.linalg.norm(A / np.linalg.norm(A) - B / fb) ** 2

    hi = np.sqrt(max(lam.min(), 0))
    grid = np.linspace(0, hi, 2001)
    vals = [dist(s) for s in grid]
    k = int(np.argmin(vals))
    lo, up = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    g = (np.sqrt(5) - 1) / 2
    for _ in range(200):
        x1, x2 = up - g * (up - lo), lo + g * (up - lo)
        if dist(x1) <= dist(x2):
            up = x2
        else:
            lo = x1
    best = min([0.0, hi, (lo + up) / 2], key=dist)
    return dist(best), best ** 2


def analyze(H, Y=None, W=None, b=None, uncentred=False):
    """[nrc1, nrc2, nrc3, nrc3_gamma, mse, r2, mse_0..mse_{n-1}, r2_0..r2_{n-1}]"""
    Hn = normalise(H, uncentred)
    M, D = Hn.shape
    n = W.shape[0] if W is not None else Y.shape[1]
    out = [np.nan] * (6 + 2 * n)
    G = Hn.T @ Hn / M
    lam, V = np.linalg.eigh(G)
    Vn = V[:, -n:]
    out[0] = residual(Hn, Vn @ Vn.T)
    if W is None:
        return np.array(out)
    W = W.astype(np.float64)
    out[1] = residual(Hn, W.T @ np.linalg.pinv(W @ W.T) @ W)
    if Y is None:
        return np.array(out)
    Y = Y.astype(np.float64)
    out[2], out[3] = nrc3(W, Y)
    P = H.reshape(M, -1).astype(np.float64) @ W.T + (0 if b is None else b.astype(np.float64))
    mse = np.mean((P - Y) ** 2, axis=0)
    sst = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    r2 = 1 - M * mse / sst
    out[4], out[5] = mse.mean(), r2.mean()
    out[6:6 + n] = mse
    out[6 + n:] = r2
    return np.array(out)


def make_case(rng, M, D, n, near=False):
    """Features with n strong directions, targets from them with different
    scales, a head W (random, or with W W^T close to Sigma^{1/2} - sqrt(g) I)."""
    Z = rng.normal(size=(M, n))
    B = rng.normal(size=(n, D))
    H = (Z @ B + 0.3 * rng.normal(size=(M, D)) + 0.5).astype(np.float32)
    Y = (Z * np.array([3.0, 1.0, 0.4, 2.0][:n]) + 0.1 * rng.normal(size=(M, n))).astype(np.float32)
    if near:
        Yd = Y.astype(np.float64)
        Yc = Yd - Yd.mean(axis=0)
        lam, Q = np.linalg.eigh(Yc.T @ Yc / M)
        T = Q @ np.diag(np.sqrt(lam) - 0.6 * np.sqrt(lam.min())) @ Q.T
        L = np.linalg.cholesky(T)
        U, _ = np.linalg.qr(rng.normal(size=(D, n)))
        W = (L @ U.T + 0.01 * rng.normal(size=(n, D))).astype(np.float32)
    else:
        W = rng.normal(size=(n, D)).astype(np.float32)
    b = rng.normal(size=n).astype(np.float32)
    return H, Y, W, b


def write_fixtures(out):
    rng = np.random.default_rng(20261201)
    cases = [("tall",) + make_case(rng, 80, 12, 3),
             ("near",) + make_case(rng, 60, 8, 3, near=True),
             ("wide",) + make_case(rng, 30, 40, 2)]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "keys.txt"), "w") as f:
        f.write("\n".join(KEYS) + "\n")
    for name, H, Y, W, b in cases:
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for k, v in (("H", H), ("Y", Y), ("W", W), ("b", b)):
            np.save(os.path.join(d, k + ".npy"), v)
        np.save(os.path.join(d, "expected_centred.npy"), analyze(H, Y, W, b))
        np.save(os.path.join(d, "expected_uncentred.npy"), analyze(H, Y, W, b, uncentred=True))
        np.save(os.path.join(d, "expected_nobias.npy"), analyze(H, Y, W))
        np.save(os.path.join(d, "expected_noY.npy"), analyze(H, None, W, b))
        np.save(os.path.join(d, "expected_noW.npy"), analyze(H, Y))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--write", metavar="DIR", help="regenerate the fixtures into DIR")
    ap.add_argument("files", nargs="*", help="H.npy Y.npy W.npy [b.npy]")
    ap.add_argument("--uncentred", action="store_true")
    a = ap.parse_args()
    if a.write:
        write_fixtures(a.write)
        return
    if len(a.files) < 3:
        ap.error("need H.npy Y.npy W.npy (or --write DIR)")
    H, Y, W = (np.load(f) for f in a.files[:3])
    b = np.load(a.files[3]) if len(a.files) > 3 else None
    v = analyze(H, Y, W, b, a.uncentred)
    n = W.shape[0]
    names = KEYS + [f"mse_{j}" for j in range(n)] + [f"r2_{j}" for j in range(n)]
    for k, x in zip(names, v):
        print(f"{k} {x:.17g}")


if __name__ == "__main__":
    main()
