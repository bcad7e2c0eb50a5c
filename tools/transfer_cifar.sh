#!/bin/sh
# Transfer and neural collapse on CIFAR-10 (Galanti, Gyorgy & Hutter, ICLR 2022; issue 13
# part 2): pretrain ResNet-20 on CIFAR-10 classes 0-4 (airplane, automobile, bird, cat,
# deer; --classes 0-4 --normalize, 500 training and 200 test images per class, no
# augmentation, SGD with a cosine schedule, seed 1), 10 runs varying weight decay,
# learning rate and epochs. Then `collapse probe` each on classes 5-9 (dog, frog, horse,
# ship, truck; the same per-class subsets): NC1 and CDNV of the frozen penultimate features
# (the 64-dim global-average-pooled output) on the target splits, 1- and 5-shot
# nearest-class-centre accuracy (100 episodes) and a ridge probe's test accuracy; and the
# same probe on the source classes 0-4. The last run keeps a checkpoint every 4 epochs
# (--keep-checkpoints 4) and is probed with --all-checkpoints: the relation over
# pre-training. Writes OUT/probe_<run>.json, OUT/source_<run>.json,
# OUT/allckpt_<run>.json, OUT/input_baseline.json, OUT/summary.csv (one row per run,
# sorted by target CDNV), OUT/allckpt.csv, OUT/spearman.txt and the figures
# OUT/cdnv_fewshot.png, OUT/cdnv_probe.png, OUT/pretraining.png. The runs go to $RUNS
# (default /tmp/transfer_cifar_runs; not kept). About 30 min of wall time on 2 cores.
# Usage: tools/transfer_cifar.sh [OUT] (default results/transfer_cifar); TRAIN=0 to redo
# only the probes and summary from the runs in $RUNS; KEEP=1 to skip the runs already
# probed in OUT; COLLAPSE_BIN to use another binary; THREADS (2).
set -eu
BIN=${COLLAPSE_BIN:-build/collapse}
OUT=${1:-results/transfer_cifar}
RUNS=${RUNS:-/tmp/transfer_cifar_runs}
T=${THREADS:-2}
export OMP_NUM_THREADS=$T OMP_WAIT_POLICY=PASSIVE
mkdir -p "$OUT" "$RUNS"
# name weight-decay learning-rate epochs extra-flags
for SPEC in "wd5e-4_lr0.1_e2 5e-4 0.1 2" "wd5e-4_lr0.1_e5 5e-4 0.1 5" \
            "wd0_lr0.1_e20 0 0.1 20" "wd5e-3_lr0.1_e20 5e-3 0.1 20" \
            "wd5e-4_lr0.01_e20 5e-4 0.01 20" "wd5e-3_lr0.05_e10 5e-3 0.05 10" \
            "wd0_lr0.01_e10 0 0.01 10" "wd5e-3_lr0.1_e10 5e-3 0.1 10" \
            "wd5e-4_lr0.05_e10 5e-4 0.05 10" \
            "wd5e-4_lr0.1_e20 5e-4 0.1 20 --keep-checkpoints 4"; do
    set -- $SPEC
    R=$1 WD=$2 LR=$3 E=$4
    shift 4
    [ "${KEEP:-0}" = 1 ] && [ -f "$OUT/probe_$R.json" ] && [ -f "$OUT/source_$R.json" ] &&
        continue
    if [ "${TRAIN:-1}" != 0 ]; then
        rm -rf "$RUNS/$R"
        nice "$BIN" train --arch resnet20 --data cifar10 --classes 0-4 --normalize \
            --train-per-class 500 --test-per-class 200 --epochs "$E" --lr "$LR" --wd "$WD" \
            --schedule cosine --analyze none --seed 1 --threads "$T" "$@" \
            --out "$RUNS/$R" > "$RUNS/$R.log"
        grep -E "^done" "$RUNS/$R.log"
    fi
    nice "$BIN" probe "$RUNS/$R" --classes 5-9 --shots 1,5 --episodes 100 --threads "$T" \
        --out "$OUT/probe_$R.json" | tail -1
    nice "$BIN" probe "$RUNS/$R" --classes 0-4 --shots 1,5 --episodes 100 --threads "$T" \
        --out "$OUT/source_$R.json" | tail -1
done
# the probe over pre-training: the kept epochs 4, 8, ..., 20 of the last run
nice "$BIN" probe "$RUNS/wd5e-4_lr0.1_e20" --classes 5-9 --shots 1,5 --episodes 100 \
    --threads "$T" --all-checkpoints --out "$OUT/allckpt_wd5e-4_lr0.1_e20.json" | tail -6
# baseline: the same measures on the normalised pixels (--layer input; no weights used)
nice "$BIN" probe "$RUNS/wd5e-4_lr0.1_e2" --classes 5-9 --shots 1,5 --episodes 100 \
    --threads "$T" --layer input --out "$OUT/input_baseline.json" | tail -1
/usr/bin/python3 - "$OUT" "$RUNS" "$(dirname "$0")" <<'PY'
import json, os, sys
out, runs = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from transfer_summary import spearman, spearman_table, summary_rows
rows = summary_rows(out, runs)
with open(os.path.join(out, "summary.csv"), "w") as f:
    f.write("cdnv_test,cdnv_train,nc1_test,acc_1shot,acc_5shot,probe_acc,source_test_acc,"
            "source_cdnv_train,source_cdnv_test,wd,lr,epochs\n")
    for r in rows:
        f.write("%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%g,%g,%d\n" % r)
j = json.load(open(os.path.join(out, "allckpt_wd5e-4_lr0.1_e20.json")))
with open(os.path.join(out, "allckpt.csv"), "w") as f:
    f.write("step,cdnv_test,cdnv_train,acc_1shot,acc_5shot,probe_acc\n")
    for row in j["rows"]:
        m = row["metrics"]
        shot = {s["shots"]: s["acc_mean"] for s in m["fewshot"]}
        f.write("%d,%.6g,%.6g,%.6g,%.6g,%.6g\n" % (row["step"], m["cdnv_test"],
                m["cdnv_train"], shot[1], shot[5], m["probe_acc"]))
cols = list(zip(*rows))
with open(os.path.join(out, "spearman.txt"), "w") as f:
    f.write(spearman_table(rows))
    f.write("spearman(source_cdnv_train, cdnv_test) = %+.3f  (n = %d)\n"
            % (spearman(cols[7], cols[0]), len(rows)))
    f.write("spearman(source_test_acc, acc_5shot) = %+.3f  (n = %d)\n"
            % (spearman(cols[6], cols[4]), len(rows)))
print(open(os.path.join(out, "spearman.txt")).read(), end="")
PY
"$BIN" plot --csv "$OUT/summary.csv" --x cdnv_test --y acc_1shot:1-shot,acc_5shot:5-shot \
    --png "$OUT/cdnv_fewshot.png" --scatter \
    --title "CIFAR-10 0-4 -> 5-9 (ResNet-20): target CDNV vs few-shot NCC" \
    --xlabel "target CDNV (test split)" --ylabel "NCC accuracy" --legend bottom-left > /dev/null
"$BIN" plot --csv "$OUT/summary.csv" --y probe_acc:ridge-probe --x cdnv_test \
    --png "$OUT/cdnv_probe.png" --scatter \
    --title "CIFAR-10 0-4 -> 5-9 (ResNet-20): target CDNV vs linear probe" \
    --xlabel "target CDNV (test split)" --ylabel "probe test accuracy" --legend bottom-left > /dev/null
"$BIN" plot --csv "$OUT/allckpt.csv" --x step --y cdnv_test:"target CDNV (test)" \
    --png "$OUT/pretraining_cdnv.png" --title "CIFAR-10 5-9 over pre-training (kept epochs)" \
    --xlabel "step" --ylabel "target CDNV" --legend none > /dev/null
"$BIN" plot --csv "$OUT/allckpt.csv" --x step --y acc_1shot:1-shot,acc_5shot:5-shot,probe_acc:ridge-probe \
    --png "$OUT/pretraining_acc.png" --title "CIFAR-10 5-9 over pre-training (kept epochs)" \
    --xlabel "step" --ylabel "accuracy" --legend bottom-right > /dev/null
