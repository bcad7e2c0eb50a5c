"""Spearman rank correlation with average ranks for ties, for the transfer
experiments' summaries (tools/transfer_mnist.sh, tools/transfer_cifar.sh)."""
import numpy as np


def rank(v):
    """Ranks 0..n-1 of v; tied values share the mean of their ranks."""
    v = np.asarray(v, float)
    r = np.empty(len(v))
    r[np.argsort(v, kind="stable")] = np.arange(len(v))
    for x in np.unique(v):
        r[v == x] = r[v == x].mean()
    return r


def spearman(a, b):
    """Pearson correlation of the ranks of a and b."""
    return float(np.corrcoef(rank(a), rank(b))[0, 1])
