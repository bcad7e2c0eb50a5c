#!/usr/bin/env bash
# Regenerates results/mlab_mnist* (issue 13, multi-label collapse; Li, Wang,
# Li & Qu, ICML 2024): an MLP 3136-512x3-10 with BN trained on a subset of
# mlab-mnist (56x56, generated at its default sizes and seed, then
# --train-per-class 300: 300 single-digit images per digit + 19 per pair of
# digits = 3,855 training images; --test-per-class 100: 100 + 6 = 1,270),
# 60 epochs, wd 5e-3, with the pick-all-label loss summed over the labels
# (--loss pal) and with the authors' 1/m weighting (--loss pal=mean); then
# the overlay figures. One thread, niced: about five CPU minutes per run.
#   bash tools/mlab_mnist.sh            (from the repository root, after make)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/collapse
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
COMMON=(--model results/mlab_mnist/mlp_w512_bn.cfg --data mlab-mnist --train-per-class 300
        --test-per-class 100 --normalize --epochs 60 --lr 0.05 --wd 5e-3 --threads 1
        --analyze-every 2 --no-layers)
declare -A LOSS=([sum]=pal [mean]=pal=mean)
for r in sum mean; do
  out=results/mlab_mnist_$r
  rm -rf "$out"
  nice "$BIN" train "${COMMON[@]}" --loss "${LOSS[$r]}" --out "$out"
  nice "$BIN" eval "$out" --split both
done
"$BIN" plot results/mlab_mnist_sum results/mlab_mnist_mean --out results/mlab_mnist
