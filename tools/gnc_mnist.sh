#!/bin/sh
# Generalized neural collapse with more classes than dimensions (Jiang, Zhou et al.,
# ICML 2024; issue 15 section 3): MNIST (K = 10, 1000 training images per class), an MLP
# whose features have dimension 2 (784-256-256-2, no ReLU on the features), and a
# cosine classifier (--classifier cosine --temperature 10), Adam, 60 epochs, seeds 1-3.
# In 2-D the optimal classifier is the regular decagon, whose one-vs-rest distance is
# rho = 1 - cos(36 deg) = 0.190983. Writes OUT/seed<S>/ (one collapse run each, with
# features.png: the 2-D features and the classifier rays), OUT/summary.csv (the last
# epoch's gnc1/gnc2/gnc3 and accuracies per seed) and OUT/features.png (seed 1).
# About 30 s of one core per seed. Usage: tools/gnc_mnist.sh [OUT] (default
# results/gnc_mnist); SEEDS="1" for one seed; TRAIN=0 to redo only the summary from the
# runs already there; COLLAPSE_BIN to use another binary.
set -eu
BIN=${COLLAPSE_BIN:-build/collapse}
OUT=${1:-results/gnc_mnist}
SEEDS=${SEEDS:-"1 2 3"}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
mkdir -p "$OUT"
cat > "$OUT/mlp2d.cfg" <<'EOF'
; the model of tools/gnc_mnist.sh: 2-D features straight from a linear layer; the
; classifier [fc] becomes a cosine head through --classifier cosine
[flat]
kind = flatten
[fc1]
kind = linear
out = 256
[relu1]
kind = relu
[fc2]
kind = linear
out = 256
[relu2]
kind = relu
[feat]
kind = linear
out = 2
[fc]
kind = linear
EOF
for S in $SEEDS; do
    [ "${TRAIN:-1}" = 0 ] && continue
    rm -rf "$OUT/seed$S"
    nice "$BIN" train --model "$OUT/mlp2d.cfg" --classifier cosine --temperature 10 \
        --data mnist --train-per-class 1000 --test-per-class 200 --epochs 60 --batch 128 \
        --optimizer adam --lr 2e-3 --schedule cosine --no-layers --seed "$S" \
        --out "$OUT/seed$S" > "$OUT/seed$S.log"
    grep -E "^done" "$OUT/seed$S.log"
    "$BIN" plot "$OUT/seed$S" > /dev/null
done
last() { awk -F, -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i }
    END { print c ? $c : "nan" }' "$1"; }
KEYS="gnc1 gnc2 gnc3 hsu_log_mean hsu_log_var nc1 nc4 train_acc test_acc"
{
    printf 'seed'
    for k in $KEYS; do printf ',%s' "$k"; done
    printf ',decagon_rho\n'
    for S in $SEEDS; do
        printf '%s' "$S"
        for k in $KEYS; do printf ',%s' "$(last "$OUT/seed$S/metrics.csv" "$k")"; done
        printf ',0.19098300562505255\n'
    done
} > "$OUT/summary.csv"
cat "$OUT/summary.csv"
set -- $SEEDS
cp "$OUT/seed$1/features.png" "$OUT/features.png"
