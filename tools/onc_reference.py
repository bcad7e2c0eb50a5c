#!/usr/bin/python3
"""NumPy reference for the ordinal collapse keys (src/analysis/onc.c), computed
directly: class means by boolean masks, the projection onto w as a matrix,
Kendall's tau-a by enumerating pairs. onc1 is tr(Sw)/tr(Sb), the nc1_quotient
of tools/nc_reference.py.
Formulas and conventions: docs/METRICS.md, "Ordinal (ONC)".

Run with the Debian interpreter (it has numpy):

    /usr/bin/python3 tools/onc_reference.py --write tests/fixtures/onc
        regenerates the committed fixtures (inputs + expected outputs)
    /usr/bin/python3 tools/onc_reference.py H.npy y.npy w.npy b.npy [--weighted-mean]
        prints every key of the given files, one "key value" per line, then z_q
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nc_reference  # noqa: E402  (onc1 = its nc1_quotient)

KEYS = ["onc1", "onc2", "onc3_tau", "onc3_mid"]


def analyze(H, y, K, w, b, weighted_mean=False):
    """Returns (the four keys as an array, z [K])."""
    H = H.astype(np.float64)
    w = w.reshape(-1).astype(np.float64)
    b = b.astype(np.float64)
    mu = np.stack([H[y == q].mean(axis=0) for q in range(K)])
    counts = np.array([(y == q).sum() for q in range(K)], dtype=np.float64)
    muG = (counts[:, None] * mu).sum(0) / counts.sum() if weighted_mean else mu.mean(0)
    M = mu - muG
    P = np.outer(w, w) / np.dot(w, w)
    onc2 = sum(np.dot(P @ m, P @ m) for m in M) / sum(np.dot(m, m) for m in M)
    z = mu @ w
    pairs = [(i, j) for i in range(K) for j in range(i + 1, K)]
    tau = sum(np.sign(z[j] - z[i]) for i, j in pairs) / len(pairs)
    if K >= 3:
        gap = (b[-1] - b[0]) / (K - 2)
        mids = [(b[q - 1] + b[q]) / 2 for q in range(1, K - 1)]
        mid = np.mean([abs(z[q] - mids[q - 1]) for q in range(1, K - 1)]) / gap
    else:
        mid = np.nan
    nc = nc_reference.analyze(H, y, K, weighted_mean=weighted_mean)
    onc1 = nc[nc_reference.KEYS.index("nc1_quotient")]
    return np.array([onc1, onc2, tau, mid]), z


def make_case(rng, counts, D, K, spread, noise, off_line, shuffle):
    """Class means near a line (direction u) at positions t_q, plus noise."""
    u = rng.normal(size=D)
    u /= np.linalg.norm(u)
    t = np.arange(K, dtype=np.float64) * spread
    if shuffle:
        rng.shuffle(t)
    mu = np.outer(t, u) + off_line * rng.normal(size=(K, D))
    y = np.concatenate([np.full(c, q) for q, c in enumerate(counts)]).astype(np.int32)
    rng.shuffle(y)
    H = (mu[y] + noise * rng.normal(size=(len(y), D))).astype(np.float32)
    w = (u + 0.2 * rng.normal(size=D)).astype(np.float32)
    b = np.sort(rng.normal(size=K - 1) * K) if K > 2 else np.array([0.3])
    b = np.cumsum(np.abs(np.diff(np.concatenate([[b[0] - 1], b]))) + 0.1) + b[0]
    return H, y, w.reshape(1, D), b.astype(np.float64)


def write_fixtures(out):
    rng = np.random.default_rng(20260516)
    cases = {
        "line": ([30, 12, 25, 18, 22], 6, 5, 2.0, 0.5, 0.1, False),
        "shuffled": ([10, 14, 9, 11], 9, 4, 1.5, 0.8, 0.6, True),
        "k2": ([15, 21], 5, 2, 1.0, 0.4, 0.3, False),
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "keys.txt"), "w") as f:
        f.write("\n".join(KEYS) + "\n")
    for name, args in cases.items():
        counts, D, K = args[0], args[1], args[2]
        H, y, w, b = make_case(rng, counts, D, K, *args[3:])
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "H.npy"), H)
        np.save(os.path.join(d, "y.npy"), y)
        np.save(os.path.join(d, "w.npy"), w)
        np.save(os.path.join(d, "b.npy"), b)
        e, z = analyze(H, y, K, w, b)
        np.save(os.path.join(d, "expected_unweighted.npy"), e)
        np.save(os.path.join(d, "z.npy"), z)
        np.save(os.path.join(d, "expected_weighted.npy"),
                analyze(H, y, K, w, b, weighted_mean=True)[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", metavar="DIR", help="regenerate the fixtures into DIR")
    ap.add_argument("files", nargs="*", help="H.npy y.npy w.npy b.npy")
    ap.add_argument("--weighted-mean", action="store_true")
    a = ap.parse_args()
    if a.write:
        write_fixtures(a.write)
        return
    if len(a.files) != 4:
        ap.error("need H.npy y.npy w.npy b.npy (or --write DIR)")
    H, y, w, b = (np.load(f) for f in a.files)
    H = H.reshape(H.shape[0], -1)
    K = len(b) + 1
    e, z = analyze(H, y.astype(np.int64), K, w, b, a.weighted_mean)
    for k, v in zip(KEYS, e):
        print(k, repr(float(v)))
    for q, v in enumerate(z):
        print("z%d" % q, repr(float(v)))


if __name__ == "__main__":
    main()
