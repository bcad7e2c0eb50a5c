#!/bin/sh
# Transfer and neural collapse (Galanti, Gyorgy & Hutter, ICLR 2022; issue 13 part 2):
# pretrain MLPs 784-256x3-5 on MNIST digits 0-4 (--classes 0-4, 500 training and 200
# test images per class), varying weight decay (0, 5e-4, 5e-3), learning rate (0.01,
# 0.1) and epochs (2, 5, 30, 100; cosine schedule): 24 runs. Then `collapse probe` each on digits 5-9 (the same
# per-class subsets, seed 1): NC1 and CDNV of the frozen penultimate features on the
# target train/test splits, 1- and 5-shot nearest-class-centre accuracy (100 episodes,
# queries = the target test split) and a ridge probe's test accuracy. Writes
# OUT/probe_<run>.json, OUT/summary.csv (one row per run, sorted by target CDNV),
# OUT/spearman.txt (rank correlations) and OUT/cdnv_fewshot.png, OUT/cdnv_probe.png.
# The runs themselves go to $RUNS (default /tmp/transfer_mnist_runs; not kept).
# About 10 min of one core in all. Usage: tools/transfer_mnist.sh [OUT]
# (default results/transfer_mnist); TRAIN=0 to redo only the probes and summary;
# KEEP=1 to skip the runs already probed.
set -eu
BIN=${COLLAPSE_BIN:-build/collapse}
OUT=${1:-results/transfer_mnist}
RUNS=${RUNS:-/tmp/transfer_mnist_runs}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
mkdir -p "$OUT" "$RUNS"
cat > "$OUT/mlp256.cfg" <<'EOF'
; the source model of tools/transfer_mnist.sh: 784-256x3, classifier for 5 classes
[model]
type = mlp
width = 256
depth = 3
bn = 0
EOF
for WD in 0 5e-4 5e-3; do for LR in 0.01 0.1; do for E in 2 5 30 100; do
    R="wd${WD}_lr${LR}_e${E}"
    # KEEP=1: runs whose probe JSON is already in OUT are not trained again
    [ "${KEEP:-0}" = 1 ] && [ -f "$OUT/probe_$R.json" ] && continue
    if [ "${TRAIN:-1}" != 0 ]; then
        rm -rf "$RUNS/$R"
        nice "$BIN" train --model "$OUT/mlp256.cfg" --data mnist --classes 0-4 \
            --train-per-class 500 --test-per-class 200 --epochs "$E" --lr "$LR" --wd "$WD" \
            --schedule cosine --analyze none --seed 1 --out "$RUNS/$R" > "$RUNS/$R.log"
        grep -E "^done" "$RUNS/$R.log"
    fi
    nice "$BIN" probe "$RUNS/$R" --classes 5-9 --shots 1,5 --episodes 100 \
        --out "$OUT/probe_$R.json" | tail -1
done; done; done
/usr/bin/python3 - "$OUT" "$RUNS" <<'EOF'
import json, glob, os, re, sys
import numpy as np
out, runs = sys.argv[1], sys.argv[2]
rows = []
for f in sorted(glob.glob(os.path.join(out, "probe_*.json"))):
    j = json.load(open(f))
    m = j["rows"][-1]["metrics"]
    shot = {s["shots"]: s["acc_mean"] for s in m["fewshot"]}
    name = os.path.basename(f)[6:-5]
    wd, lr, ep = re.match(r"wd(.*)_lr(.*)_e(\d+)$", name).groups()
    src = float("nan")  # the source run's test accuracy on digits 0-4, from its log
    try:
        done = [l for l in open(os.path.join(runs, name + ".log")) if l.startswith("done")]
        src = float(re.search(r"test [0-9.]+/([0-9.]+)%", done[-1]).group(1)) / 100
    except (OSError, IndexError, AttributeError):
        pass
    rows.append((m["cdnv_test"], m["cdnv_train"], m["nc1_test"], shot[1], shot[5],
                 m["probe_acc"], src, float(wd), float(lr), int(ep)))
rows.sort()
with open(os.path.join(out, "summary.csv"), "w") as f:
    f.write("cdnv_test,cdnv_train,nc1_test,acc_1shot,acc_5shot,probe_acc,source_test_acc,"
            "wd,lr,epochs\n")
    for r in rows:
        f.write("%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%g,%g,%d\n" % r)
def rank(v):
    v = np.asarray(v, float); r = np.empty(len(v)); o = np.argsort(v, kind="stable")
    r[o] = np.arange(len(v))
    for x in np.unique(v):  # average ranks of ties
        r[v == x] = r[v == x].mean()
    return r
def spearman(a, b):
    return float(np.corrcoef(rank(a), rank(b))[0, 1])
cols = list(zip(*rows))
with open(os.path.join(out, "spearman.txt"), "w") as f:
    for i, xn in ((0, "cdnv_test"), (1, "cdnv_train"), (2, "nc1_test")):
        for k, yn in ((3, "acc_1shot"), (4, "acc_5shot"), (5, "probe_acc")):
            f.write("spearman(%s, %s) = %+.3f  (n = %d)\n" % (xn, yn, spearman(cols[i], cols[k]), len(rows)))
print(open(os.path.join(out, "spearman.txt")).read(), end="")
EOF
"$BIN" plot --csv "$OUT/summary.csv" --y acc_1shot:1-shot,acc_5shot:5-shot --x cdnv_test \
    --png "$OUT/cdnv_fewshot.png" --logx --scatter --title "MNIST 0-4 -> 5-9: target CDNV vs few-shot NCC" \
    --xlabel "target CDNV (test split, log)" --ylabel "NCC accuracy" --legend bottom-left > /dev/null
"$BIN" plot --csv "$OUT/summary.csv" --y probe_acc:ridge-probe --x cdnv_test \
    --png "$OUT/cdnv_probe.png" --logx --scatter --title "MNIST 0-4 -> 5-9: target CDNV vs linear probe" \
    --xlabel "target CDNV (test split, log)" --ylabel "probe test accuracy" --legend bottom-left > /dev/null
