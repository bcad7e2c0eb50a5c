#!/usr/bin/env bash
# Regenerates results/mlab_mnist* (issue 13, multi-label collapse; Li, Wang,
# Li & Qu, ICML 2024): an MLP 3136-512x3-10 with BN trained on a subset of
# mlab-mnist (56x56; 300 single-digit images per digit + 30 per pair of
# digits = 4,350 training images; test 100 + 10 = 1,450), made with
# `collapse data make` (default seed), 100 epochs, with the pick-all-label
# loss summed over the labels (--loss pal) and with the authors' 1/m
# weighting (--loss pal=mean); then the overlay figures. One thread, niced:
# about four minutes per run on this machine.
#   bash tools/mlab_mnist.sh            (from the repository root, after make)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/collapse
DATA=${TMPDIR:-/tmp}/mlab_mnist_300_30
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
rm -rf "$DATA"
"$BIN" data make mlab-mnist --to "$DATA" --train-sizes 300,30 --test-sizes 100,10
COMMON=(--model results/mlab_mnist/mlp_w512_bn.cfg --data "$DATA" --normalize --epochs 100
        --lr 0.05 --wd 5e-4 --threads 1 --analyze-every 2 --no-layers)
declare -A LOSS=([sum]=pal [mean]=pal=mean)
for r in sum mean; do
  out=results/mlab_mnist_$r
  rm -rf "$out"
  nice "$BIN" train "${COMMON[@]}" --loss "${LOSS[$r]}" --out "$out"
  nice "$BIN" eval "$out" --split both
done
"$BIN" plot results/mlab_mnist_sum results/mlab_mnist_mean --out results/mlab_mnist
rm -rf "$DATA"
