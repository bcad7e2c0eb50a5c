#!/usr/bin/env bash
# Regenerates results/ordinal_pose (issue 16, ordinal collapse on a real
# ordinal task): an MLP 1296-256x3 with the cumulative-link head (--loss clm)
# on mnist-pose with the rotation angle theta binned into 8 ordered classes
# (--ordinal-bins 8: quantile bins of theta, so the order is in the images),
# 300 training and 100 test images per bin, 120 epochs, fixed thresholds
# (spacing 4, the default) and learned thresholds; then the overlay figures
# and the z_q / threshold table of each run's last epoch. One thread, niced:
# a few CPU-minutes per run. The runs are independent:
#   bash tools/ordinal_pose.sh               both runs, then the figures
#   bash tools/ordinal_pose.sh fixed4        only this run (no figures)
#   FIGURES_ONLY=1 bash tools/ordinal_pose.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${COLLAPSE:-build/collapse}
OUT=results/ordinal_pose
COMMON=(--model "$OUT/mlp256.cfg" --data mnist-pose --ordinal-bins 8 --train-per-class 300
        --test-per-class 100 --epochs "${EPOCHS:-120}" --lr 0.05 --loss clm --threads 1)
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
declare -A MODE=([fixed4]=fixed [learned]=learned)
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(fixed4 learned)
if [ -z "${FIGURES_ONLY:-}" ]; then
  for r in "${RUNS[@]}"; do
    rm -rf "${OUT:?}/$r"
    nice "$BIN" train "${COMMON[@]}" --clm-thresholds "${MODE[$r]}" --out "$OUT/$r"
    rm -rf "$OUT/$r/checkpoint" "$OUT/$r/train.lock"
  done
  [ $# -eq 0 ] || exit 0
fi
"$BIN" plot "$OUT/fixed4" "$OUT/learned" --out "$OUT"
for r in fixed4 learned; do
  echo "== $OUT/$r: last epoch, training features"
  "$BIN" analyze --features "$OUT/$r/features_train.npy" --labels "$OUT/$r/labels_train.npy" \
    --weights "$OUT/$r/W.npy" --thresholds "$OUT/$r/thresholds.npy"
done
