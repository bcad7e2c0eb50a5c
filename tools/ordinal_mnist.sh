#!/usr/bin/env bash
# Regenerates results/ordinal_mnist* (issue 16, ordinal collapse): an MLP
# 784-256x3 with the cumulative-link head (--loss clm: a 1-unit latent
# z = w.h and 9 thresholds) on MNIST digits taken as ordered classes,
# 500 per class, 120 epochs, with fixed thresholds of spacing 1 and 4 (the
# default) and with learned thresholds (from spacing 4); then the overlay
# figures and the z_q / threshold table of each run's last epoch. One
# thread, niced: one to three minutes per run on this machine.
#   bash tools/ordinal_mnist.sh            (from the repository root, after make)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/collapse
COMMON=(--model results/ordinal_mnist/mlp_w256.cfg --data mnist --train-per-class 500
        --test-per-class 500 --epochs 120 --lr 0.05 --loss clm --threads 1)
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
RUNS=(fixed1 fixed4 learned)
declare -A MODE=([fixed1]=fixed=1 [fixed4]=fixed [learned]=learned)
for r in "${RUNS[@]}"; do
  out=results/ordinal_mnist_$r
  rm -rf "$out"
  nice "$BIN" train "${COMMON[@]}" --clm-thresholds "${MODE[$r]}" --out "$out"
done
"$BIN" plot "${RUNS[@]/#/results/ordinal_mnist_}" --out results/ordinal_mnist
for r in "${RUNS[@]}"; do
  out=results/ordinal_mnist_$r
  echo "== $out: last epoch, training features"
  "$BIN" analyze --features "$out/features_train.npy" --labels "$out/labels_train.npy" \
    --weights "$out/W.npy" --thresholds "$out/thresholds.npy"
done
