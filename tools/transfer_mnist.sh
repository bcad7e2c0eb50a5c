#!/bin/sh
# Transfer and neural collapse (Galanti, Gyorgy & Hutter, ICLR 2022; issue 13 part 2):
# pretrain MLPs 784-256x3-5 on MNIST digits 0-4 (--classes 0-4, 500 training and 200
# test images per class), varying weight decay (0, 5e-4, 5e-3), learning rate (0.01,
# 0.1) and epochs (2, 5, 30, 100; cosine schedule): 24 runs. Then `collapse probe` each
# on digits 5-9 (the same per-class subsets, seed 1): NC1 and CDNV of the frozen
# penultimate features on the target train/test splits, 1- and 5-shot nearest-class-
# centre accuracy (100 episodes, queries = the target test split) and a ridge probe's
# test accuracy; and the same probe on the source digits 0-4. Writes
# OUT/probe_<run>.json (target), OUT/source_<run>.json (source), OUT/allckpt_<run>.json
# (--all-checkpoints on one run), OUT/summary.csv (one row per run, sorted by target
# CDNV), OUT/spearman.txt (rank correlations), OUT/cdnv_fewshot.png, OUT/cdnv_probe.png
# and OUT/source_target_cdnv.png. The runs themselves go to $RUNS (default
# /tmp/transfer_mnist_runs; not kept). About 10 min of one core in all.
# Usage: tools/transfer_mnist.sh [OUT] (default results/transfer_mnist); TRAIN=0 to
# redo only the probes and summary from the runs in $RUNS; KEEP=1 to skip what is
# already in OUT; COLLAPSE_BIN to use another binary.
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
    # KEEP=1: what is already in OUT is not trained or probed again
    if [ "${TRAIN:-1}" != 0 ] && ! { [ "${KEEP:-0}" = 1 ] && [ -f "$OUT/probe_$R.json" ]; }; then
        rm -rf "$RUNS/$R"
        nice "$BIN" train --model "$OUT/mlp256.cfg" --data mnist --classes 0-4 \
            --train-per-class 500 --test-per-class 200 --epochs "$E" --lr "$LR" --wd "$WD" \
            --schedule cosine --analyze none --seed 1 --out "$RUNS/$R" > "$RUNS/$R.log"
        grep -E "^done" "$RUNS/$R.log"
    fi
    [ "${KEEP:-0}" = 1 ] && [ -f "$OUT/probe_$R.json" ] ||
        nice "$BIN" probe "$RUNS/$R" --classes 5-9 --shots 1,5 --episodes 100 \
            --out "$OUT/probe_$R.json" | tail -1
    # the same measures on the source classes (collapse of the pretraining task)
    [ "${KEEP:-0}" = 1 ] && [ -f "$OUT/source_$R.json" ] ||
        nice "$BIN" probe "$RUNS/$R" --classes 0-4 --shots 1,5 --episodes 100 \
            --out "$OUT/source_$R.json" | tail -1
done; done; done
/usr/bin/python3 - "$OUT" "$RUNS" "$(dirname "$0")" <<'EOF'
import os, sys
out, runs = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from transfer_summary import spearman, spearman_table, summary_rows
rows = summary_rows(out, runs)
with open(os.path.join(out, "summary.csv"), "w") as f:
    # the few-shot columns again, split by whether the source run was trained (its
    # test accuracy >= 95%) or not (nan elsewhere): two colours in the figures
    f.write("cdnv_test,cdnv_train,nc1_test,acc_1shot,acc_5shot,probe_acc,source_test_acc,"
            "source_cdnv_train,source_cdnv_test,wd,lr,epochs,acc_1shot_trained,"
            "acc_5shot_trained,acc_1shot_under,acc_5shot_under\n")
    nan = float("nan")
    for r in rows:
        t = r[6] >= 0.95
        f.write("%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%g,%g,%d" % r
                + ",%.6g,%.6g,%.6g,%.6g\n" % ((r[3], r[4], nan, nan) if t else (nan, nan, r[3], r[4])))
cols = list(zip(*rows))
with open(os.path.join(out, "spearman.txt"), "w") as f:
    f.write(spearman_table(rows))
    f.write("spearman(source_cdnv_train, cdnv_test) = %+.3f  (n = %d)\n"
            % (spearman(cols[7], cols[0]), len(rows)))
    sel = [r for r in rows if r[6] >= 0.95]  # trained sources only
    f.write("trained sources only (source test accuracy >= 95%%, n = %d):\n" % len(sel))
    f.write(spearman_table(sel, "  ", False))
print(open(os.path.join(out, "spearman.txt")).read(), end="")
EOF
"$BIN" plot --csv "$OUT/summary.csv" --x cdnv_test --y \
    acc_1shot_trained:"1-shot (source trained)",acc_5shot_trained:"5-shot (source trained)",acc_1shot_under:"1-shot (source < 95%)",acc_5shot_under:"5-shot (source < 95%)" \
    --png "$OUT/cdnv_fewshot.png" --scatter --title "MNIST 0-4 -> 5-9: target CDNV vs few-shot NCC" \
    --xlabel "target CDNV (test split)" --ylabel "NCC accuracy" --legend bottom-left > /dev/null
"$BIN" plot --csv "$OUT/summary.csv" --y probe_acc:ridge-probe --x cdnv_test \
    --png "$OUT/cdnv_probe.png" --scatter --title "MNIST 0-4 -> 5-9: target CDNV vs linear probe" \
    --xlabel "target CDNV (test split)" --ylabel "probe test accuracy" --legend bottom-left > /dev/null
"$BIN" plot --csv "$OUT/summary.csv" --y cdnv_test:target --x source_cdnv_train \
    --png "$OUT/source_target_cdnv.png" --logx --scatter \
    --title "MNIST 0-4 -> 5-9: source vs target CDNV" --xlabel "source CDNV (train, log)" \
    --ylabel "target CDNV (test)" --legend none > /dev/null
# --all-checkpoints: the two kept slots (epochs 99 and 100) of one run
nice "$BIN" probe "$RUNS/wd5e-4_lr0.1_e100" --classes 5-9 --all-checkpoints \
    --out "$OUT/allckpt_wd5e-4_lr0.1_e100.json" | tail -3
# baseline: the same measures on the raw pixels (--layer input; any run: no weights used)
nice "$BIN" probe "$RUNS/wd0_lr0.01_e2" --classes 5-9 --layer input \
    --out "$OUT/input_baseline.json" | tail -1
