#!/usr/bin/env bash
# Regenerates results/regression_pose: an MLP (256 x 3, results/regression_pose/
# mlp256.cfg) regressing (theta, dx, dy) on mnist-pose (200 training and 100 test
# images per digit), one run per weight decay (each run's study draws its own
# nrc.png and r2.png), then the overlay figures of both runs (`collapse plot`:
# nrc.png, r2.png) and the last-epoch table of the README. Each run takes a few CPU-minutes
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
for r in "${runs[@]}"; do build/collapse plot "$r" > /dev/null; done
build/collapse plot "${runs[@]}" --out "$OUT"
# the README's table: the last epoch of every run
for r in "${runs[@]}"; do
  awk -F, -v run="$(basename "$r")" '
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { split($0, v, ",") }
    END {
      printf "| %s | %d | %.4g | %.3f (%.3f, %.3f, %.3f) | %.3g / %.3g | %.3g / %.3g | %.3g / %.3g | %.3g |\n",
        run, v[c["epoch"]], v[c["train_loss"]], v[c["test_r2"]], v[c["test_r2_0"]],
        v[c["test_r2_1"]], v[c["test_r2_2"]], v[c["nrc1_train"]], v[c["nrc1_test"]],
        v[c["nrc2_train"]], v[c["nrc2_test"]], v[c["nrc3_train"]], v[c["nrc3_test"]],
        v[c["nrc3_gamma_train"]]
    }' "$r/metrics.csv"
done
