#!/usr/bin/python3
"""NumPy reference for the multi-label collapse keys (src/analysis/mlab.c),
computed the direct way: boolean masks per label set, np.mean of the rows,
angles by arccos of the clipped cosine. Source: Li, Wang, Li & Qu, ICML 2024.
Conventions: include/collapse/mlab.h and docs/METRICS.md (Multi-label).

    /usr/bin/python3 tools/mlab_reference.py --write tests/fixtures/mlab
        regenerates the committed fixtures (inputs + expected outputs)
    /usr/bin/python3 tools/mlab_reference.py H.npy Yk.npy
        prints every key, one "key value" per line
"""
import argparse
import os

import numpy as np

KEYS = ["mlab_sets", "mlab_classes", "mlab_angle", "mlab_scale_mean", "mlab_scale_cv",
        "mlab_angle_uncentred", "mlab_angle_ratio"]
# after the keys, in expected.npy: n_single, n_pair, n_multi, sets_present, sets_skipped
COUNTS = ["n_single", "n_pair", "n_multi", "sets_present", "sets_skipped"]


def angle(a, b):
    c = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def analyze(H, Yk):
    H = H.reshape(H.shape[0], -1).astype(np.float64)
    Yk = Yk.astype(np.int64)
    K = Yk.shape[1]
    m = Yk.sum(axis=1)
    assert (m > 0).all() and ((Yk == 0) | (Yk == 1)).all()
    mu = {}
    for k in range(K):
        rows = (m == 1) & (Yk[:, k] == 1)
        if rows.any():
            mu[k] = H[rows].mean(axis=0)
    present, measured = [], []
    for i in range(K):
        for j in range(i + 1, K):
            rows = (m == 2) & (Yk[:, i] == 1) & (Yk[:, j] == 1)
            if not rows.any():
                continue
            present.append((i, j))
            if i in mu and j in mu:
                measured.append((i, j, H[rows].mean(axis=0)))
    out = [len(measured), len(mu)] + [np.nan] * 5
    if measured:
        g = np.mean(np.stack(list(mu.values())), axis=0)  # mean of the single-label means
        ang = [angle(mij - g, (mu[i] - g) + (mu[j] - g)) for i, j, mij in measured]
        sc = np.array([np.linalg.norm(mij - g) / np.linalg.norm(((mu[i] - g) + (mu[j] - g)) / 2)
                       for i, j, mij in measured])
        out[2], out[3], out[4] = np.mean(ang), sc.mean(), sc.std() / sc.mean()
        ang_u = np.mean([angle(mij, mu[i] + mu[j]) for i, j, mij in measured])
        out[5] = ang_u
        cls = sorted(mu)
        den = [angle(mu[a] + mu[b], mij) for ai, a in enumerate(cls) for b in cls[ai + 1:]
               for _, _, mij in measured]
        if den:
            out[6] = ang_u / np.mean(den)
    out += [np.sum(m == 1), np.sum(m == 2), np.sum(m > 2), len(present),
            len(present) - len(measured)]
    return np.array(out, dtype=np.float64)


def make_case(rng, K, D, n1, n2, n3, missing=(), offset=2.0):
    """Single-label rows around random class means (none for the classes in
    missing), two-label rows around a * (mu_i + mu_j) rotated a little, a few
    rows with three labels; all shifted by a common offset."""
    mu = rng.normal(size=(K, D))
    H, Y = [], []
    for k in range(K):
        if k in missing:
            continue
        for _ in range(n1):
            H.append(mu[k] + 0.3 * rng.normal(size=D))
            Y.append(np.eye(K)[k])
    for i in range(K):
        for j in range(i + 1, K):
            if rng.random() < 0.25:
                continue  # some sets absent
            a = rng.uniform(0.5, 1.5)
            c = a * (mu[i] + mu[j]) + 0.4 * rng.normal(size=D)
            for _ in range(n2):
                H.append(c + 0.3 * rng.normal(size=D))
                Y.append(np.eye(K)[i] + np.eye(K)[j])
    for _ in range(n3):
        s = rng.choice(K, size=3, replace=False)
        H.append(mu[s].sum(axis=0) + 0.3 * rng.normal(size=D))
        Y.append(np.eye(K)[s].sum(axis=0))
    p = rng.permutation(len(H))
    H = (np.array(H) + offset).astype(np.float32)[p]
    Y = np.array(Y).astype(np.uint8)[p]
    return H, Y


def write_fixtures(out):
    rng = np.random.default_rng(20261213)
    cases = [("mixed",) + make_case(rng, 5, 7, 9, 4, 3, missing=(4,)),
             ("wide",) + make_case(rng, 4, 16, 3, 2, 0),
             ("ten",) + make_case(rng, 10, 12, 6, 3, 5, offset=-1.0)]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "keys.txt"), "w") as f:
        f.write("\n".join(KEYS + COUNTS) + "\n")
    for name, H, Y in cases:
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "H.npy"), H)
        np.save(os.path.join(d, "Yk.npy"), Y)
        np.save(os.path.join(d, "expected.npy"), analyze(H, Y))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--write", metavar="DIR", help="regenerate the fixtures into DIR")
    ap.add_argument("files", nargs="*", help="H.npy Yk.npy")
    a = ap.parse_args()
    if a.write:
        write_fixtures(a.write)
        return
    if len(a.files) != 2:
        ap.error("need H.npy Yk.npy (or --write DIR)")
    v = analyze(np.load(a.files[0]), np.load(a.files[1]))
    for k, x in zip(KEYS + COUNTS, v):
        print(f"{k} {x:.17g}")


if __name__ == "__main__":
    main()
