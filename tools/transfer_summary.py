"""Shared by the transfer experiments' summaries (tools/transfer_mnist.sh,
tools/transfer_cifar.sh): the per-run rows read from the probe JSON and the
run logs, and Spearman's rank correlation (average ranks for ties)."""
import glob
import json
import os
import re

import numpy as np


def summary_rows(out, runs):
    """One tuple per OUT/probe_wd<WD>_lr<LR>_e<E>.json, sorted (by target CDNV):
    (cdnv_test, cdnv_train, nc1_test, acc_1shot, acc_5shot, probe_acc,
    source_test_acc, source_cdnv_train, source_cdnv_test, wd, lr, epochs).
    source_test_acc comes from the `done` line of RUNS/<run>.log (nan without
    it), the source CDNVs from OUT/source_<run>.json."""
    rows = []
    for f in sorted(glob.glob(os.path.join(out, "probe_wd*.json"))):
        m = json.load(open(f))["rows"][-1]["metrics"]
        shot = {s["shots"]: s["acc_mean"] for s in m["fewshot"]}
        name = os.path.basename(f)[6:-5]
        wd, lr, ep = re.match(r"wd(.*)_lr(.*)_e(\d+)$", name).groups()
        src = float("nan")
        try:
            done = [l for l in open(os.path.join(runs, name + ".log")) if l.startswith("done")]
            src = float(re.search(r"test [0-9.]+/([0-9.]+)%", done[-1]).group(1)) / 100
        except (OSError, IndexError, AttributeError):
            pass
        s = json.load(open(os.path.join(out, "source_%s.json" % name)))["rows"][-1]["metrics"]
        rows.append((m["cdnv_test"], m["cdnv_train"], m["nc1_test"], shot[1], shot[5],
                     m["probe_acc"], src, s["cdnv_train"], s["cdnv_test"], float(wd),
                     float(lr), int(ep)))
    rows.sort()
    return rows


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


def spearman_table(rows, indent="", show_n=True):
    """The lines "spearman(X, Y) = rho" for X in the target CDNV (test, train),
    target NC1 and source CDNV, Y in the 1-/5-shot and probe accuracies, of
    summary_rows' tuples; with show_n, each ends with "(n = N)"."""
    cols = list(zip(*rows))
    text = ""
    for i, xn in ((0, "cdnv_test"), (1, "cdnv_train"), (2, "nc1_test"),
                  (7, "source_cdnv_train")):
        for k, yn in ((3, "acc_1shot"), (4, "acc_5shot"), (5, "probe_acc")):
            text += "%sspearman(%s, %s) = %+.3f" % (indent, xn, yn, spearman(cols[i], cols[k]))
            text += "  (n = %d)\n" % len(rows) if show_n else "\n"
    return text
