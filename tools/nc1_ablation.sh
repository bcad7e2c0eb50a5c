#!/usr/bin/env bash
# Why does NC1 of results/mnist_learned (CE, MLP 784-1024x3-10, MNIST 500/class, SGD lr 0.1
# /10 at epochs 33 and 66, wd 5e-4, 100 epochs) stop falling at epoch 18 and rise after it?
# (issue 14). One factor changed per run, all else as in that run (one thread each, so
# `base` is not bit-identical to results/mnist_learned, made with two):
#   base   the setting itself        wd0   --wd 0          wd5e-3  --wd 5e-3
#   lr0.01 --lr 0.01                 const --schedule const (lr 0.1 throughout)
#   bn     BatchNorm after each hidden linear (mlp width 1024, bn = 1)
#   w512   width 512 (models/mlp512.cfg)                  e350    --epochs 350
# Writes OUT/<variant>/ (a collapse run each), OUT/summary.csv (`tools/repro_summary.py
# --runs`: per run the epoch where training accuracy first reaches 100%, NC1 there, the
# minimum of NC1 and its epoch, the last NC1, last/min, and the training loss at the
# minimum and at the end) and OUT/nc1.png.
# About 40 min of one core. Usage: tools/nc1_ablation.sh [OUT] (results/nc1_ablation);
# VARIANTS="base wd0" for some; TRAIN=0 redoes only the summary; COLLAPSE_BIN.
set -eu
BIN=${COLLAPSE_BIN:-build/collapse}
OUT=${1:-results/nc1_ablation}
VARIANTS=${VARIANTS:-"base wd0 wd5e-3 lr0.01 const bn w512 e350"}
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
printf '; tools/nc1_ablation.sh, variant bn: models/mlp.cfg with BatchNorm\n[model]\ntype = mlp\nwidth = 1024\ndepth = 3\nbn = 1\n' \
    > "$OUT/mlp_bn1024.cfg"
BASE="--data mnist --train-per-class 500 --test-per-class 500 --loss ce --seed 1 --threads 1"
for v in $VARIANTS; do
    case $v in
    base)   a="--model models/mlp.cfg --epochs 100" ;;
    wd0)    a="--model models/mlp.cfg --epochs 100 --wd 0" ;;
    wd5e-3) a="--model models/mlp.cfg --epochs 100 --wd 5e-3" ;;
    lr0.01) a="--model models/mlp.cfg --epochs 100 --lr 0.01" ;;
    const)  a="--model models/mlp.cfg --epochs 100 --schedule const" ;;
    bn)     a="--model $OUT/mlp_bn1024.cfg --epochs 100" ;;
    w512)   a="--model models/mlp512.cfg --epochs 100" ;;
    e350)   a="--model models/mlp.cfg --epochs 350" ;;
    *) echo "tools/nc1_ablation.sh: unknown variant '$v'" >&2; exit 2 ;;
    esac
    [ "${TRAIN:-1}" = 0 ] && continue
    rm -rf "${OUT:?}/$v"
    # shellcheck disable=SC2086
    nice "$BIN" train $a $BASE --no-features --out "$OUT/$v" > "$OUT/$v.log" 2>&1
    grep -E "^done" "$OUT/$v.log"
done
set --
for v in $VARIANTS; do set -- "$@" "$OUT/$v"; done
python3 tools/repro_summary.py --runs "$OUT/summary.csv" "$@"
column -s, -t "$OUT/summary.csv"
set --
for v in $VARIANTS; do set -- "$@" --csv "$OUT/$v/metrics.csv" --y "nc1:$v"; done
"$BIN" plot "$@" --x epoch --png "$OUT/nc1.png" --logx --logy --xmin 1 \
    --title "NC1, MNIST 500/class, CE: one factor changed" \
    --xlabel epoch --ylabel "NC1 = tr(Sw Sb^+)/K" --legend top-right > /dev/null
