#!/usr/bin/env bash
# Regenerates results/regression_pose: an MLP (256 x 3, results/regression_pose/
# mlp256.cfg) regressing (theta, dx, dy) on mnist-pose (200 training and 100 test
# images per digit), one run per weight decay, then the NRC figures and the
# table of the README (tools/nrc_figures.py). Each run takes a few CPU-minutes
# on one thread; the runs are independent (start them in parallel by giving
# one weight decay each, then once without arguments for the figures only).
#   tools/regression_pose.sh            every run (5e-4, 0), then the figures
#   tools/regression_pose.sh WD [...]   only these runs
#   FIGURES_ONLY=1 tools/regression_pose.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=results/regression_pose
E=${EPOCHS:-200}
WDS=("$@")
[ ${#WDS[@]} -gt 0 ] || WDS=(5e-4 0)
if [ -z "${FIGURES_ONLY:-}" ]; then
  for wd in "${WDS[@]}"; do
    rm -rf "$OUT/wd$wd"
    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE nice build/collapse train \
      --model "$OUT/mlp256.cfg" --data mnist-pose --task regression \
      --train-per-class 200 --test-per-class 100 --epochs "$E" --batch 64 \
      --lr 0.05 --schedule cosine --wd "$wd" --threads 1 --out "$OUT/wd$wd" \
      > "$OUT/wd$wd.log"
    rm -rf "$OUT/wd$wd/checkpoint" "$OUT/wd$wd/train.lock"
  done
  [ $# -eq 0 ] || exit 0
fi
runs=()
for d in "$OUT"/wd*/; do [ -f "$d/metrics.csv" ] && runs+=("${d%/}"); done
/usr/bin/python3 tools/nrc_figures.py "$OUT" "${runs[@]}"
