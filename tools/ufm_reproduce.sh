#!/usr/bin/env bash
# The UFM reproductions of issue 15 (`make ufm-results`):
#   results/ufm_closed_form/   CE, MSE, MSE + free bias converging to their closed forms
#   results/ufm_deep/          Sukenik et al. 2024 Fig. 2: 4-layer DUFM, random vs DNC start
#   results/ufm_lpm_minority/  Fang et al. 2021: LPM minority collapse vs imbalance ratio R
# Each run is `collapse ufm` (metrics.csv, .npy); summaries are CSV, figures
# come from `collapse plot --csv`. Single-threaded and niced: about 1-2
# minutes of CPU in all. Usage: tools/ufm_reproduce.sh [closed|deep|lpm]...
# FIGURES_ONLY=1 redraws the figures from the committed CSV files.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${COLLAPSE:-build/collapse}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
ufm() { nice "$BIN" ufm "$@" > /dev/null; }
plot() { "$BIN" plot "$@"; }
FIG=${FIGURES_ONLY:-}

# col FILE NAME: the last row's value of column NAME of a CSV file.
col() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
                        { v = $c } END { print v }' "$1"
}

# lastdef FILE NAME: "value,step" of the last row where column NAME is a
# number (nc1 and D are NaN once class means are rank-deficient; the cosines
# stay defined, so for them this is the last step).
lastdef() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
                        $c != "nan" && $c != "" { v = $c; s = $1 } END { print v "," s }' "$1"
}

closed() {
  local R=results/ufm_closed_form
  [ -n "$FIG" ] || closed_runs
  local s=()
  for r in ce mse mse_bias; do
    s+=(--csv "$R/$r/metrics.csv" --y "gap_objective:$r objective,gap_gram:$r Gram")
  done
  plot --x step --logy --abs --ylabel "relative gap" --legend top-right --png $R/gaps.png \
    --title "UFM: distance to the closed-form optimum (K=4, n=10, d=8, 5e-4)" "${s[@]}"
}

closed_runs() {
  local R=results/ufm_closed_form
  rm -rf $R/ce $R/mse $R/mse_bias && mkdir -p $R
  local base="--classes 4 --dim 8 --per-class 10 --wd-w 5e-4 --wd-h 5e-4 --wd-b 0 --log-every 20"
  ufm $base --loss ce --steps 6000 --lr 5 --out $R/ce
  ufm $base --loss mse --no-bias --steps 6000 --lr 1 --momentum 0.9 --out $R/mse
  ufm $base --loss mse --steps 6000 --lr 1 --momentum 0.9 --out $R/mse_bias
  {
    echo "run,objective,cf_objective,gap_objective,mean_norm_w,cf_norm_w,gap_norm_w,mean_norm_h,cf_norm_h,gap_norm_h,margin,cf_margin,gap_bias,gap_gram,nc1"
    for r in ce mse mse_bias; do
      local m=$R/$r/metrics.csv line=$r
      for c in objective cf_objective gap_objective mean_norm_w cf_norm_w gap_norm_w \
               mean_norm_h cf_norm_h gap_norm_h margin cf_margin gap_bias gap_gram nc1; do
        line="$line,$(col $m $c)"
      done
      echo "$line"
    done
  } > $R/summary.csv
}

deep() {
  local R=results/ufm_deep
  [ -n "$FIG" ] || deep_runs
  local s=(--csv "$R/dnc/metrics.csv" --y "objective:DNC start") rk=()
  for seed in 1 2 3 4 5 6 7 8 9 10; do
    s+=(--csv "$R/seed$seed/metrics.csv" --y "objective:seed $seed")
    rk+=(--csv "$R/seed$seed/metrics.csv" --y "rank_layer1:seed $seed")
  done
  plot --x step --xmin 3000 --ylabel objective --legend top-right --png $R/objective.png \
    --title "4-layer DUFM, K=10, MSE, wd 0.004: random starts vs the DNC start" "${s[@]}"
  plot --x step --ylabel "rank of the class means, layer 1" --legend top-right \
    --png $R/rank.png \
    --title "4-layer DUFM: numerical rank (1e-3 x largest singular value) of H1's class means" \
    "${rk[@]}"
}

deep_runs() {
  local R=results/ufm_deep
  rm -rf $R/dnc $R/seed* && mkdir -p $R
  local base="--classes 10 --dim 30 --per-class 5 --loss mse --no-bias --wd-w 0.004 --wd-h 0.004
              --depth 4 --width 30 --act relu --lr 0.5 --steps 30000 --log-every 300"
  # shellcheck disable=SC2086
  ufm $base --dnc-start --out $R/dnc
  local dnc; dnc=$(col $R/dnc/metrics.csv objective)
  echo "seed,objective,dnc_objective,below_dnc,rank_layer1,rank_layer2,rank_layer3,rank_layer4,min_rank,nc1q_layer1,nc1q_layer4" > $R/summary.csv
  for seed in 1 2 3 4 5 6 7 8 9 10; do
    # shellcheck disable=SC2086
    ufm $base --init-std 0.3 --seed $seed --out $R/seed$seed
    local m=$R/seed$seed/metrics.csv o r1 r2 r3 r4
    o=$(col $m objective); r1=$(col $m rank_layer1); r2=$(col $m rank_layer2)
    r3=$(col $m rank_layer3); r4=$(col $m rank_layer4)
    local mn; mn=$(printf '%s\n' "$r1" "$r2" "$r3" "$r4" | sort -g | head -1)
    local below; below=$(awk -v a="$o" -v b="$dnc" 'BEGIN { print (a < b) ? 1 : 0 }')
    echo "$seed,$o,$dnc,$below,$r1,$r2,$r3,$r4,$mn,$(col $m nc1q_layer1),$(col $m nc1q_layer4)" >> $R/summary.csv
  done
}

lpm() {
  local R=results/ufm_lpm_minority
  [ -n "$FIG" ] || lpm_runs
  plot --x R_eff --logx --xlabel "imbalance ratio R = n_major / n_minor" \
    --ylabel "mean pairwise cosine of classifier rows" --legend top-left --png $R/cosine.png \
    --title "LPM, K=10 (5 majority), EW=1, EH=5: minority collapse" \
    --csv "$R/sweep.csv" --y "minority_cos_W:minority classes,majority_cos_W:majority classes" \
    --csv "$R/refine.csv" --y "minority_cos_W:minority (n_minor = 4)"
}

lpm_runs() {
  local R=results/ufm_lpm_minority
  rm -rf $R/runs && mkdir -p $R/runs
  echo "i,R,R_eff,n_major,n_minor,minority_cos_W,step_minority,majority_cos_W,step_majority,objective" > $R/sweep.csv
  for i in $(seq 0 30); do
    # R = 10^(0.1 i); n_minor = max(1, round(20/R)), n_major = round(n_minor R)
    local r nb na
    r=$(awk -v i="$i" 'BEGIN { printf "%.6g", 10 ^ (0.1 * i) }')
    nb=$(awk -v r="$r" 'BEGIN { n = int(20 / r + 0.5); print n < 1 ? 1 : n }')
    na=$(awk -v r="$r" -v nb="$nb" 'BEGIN { print int(nb * r + 0.5) }')
    local counts="$na,$na,$na,$na,$na,$nb,$nb,$nb,$nb,$nb" out=$R/runs/R$i
    ufm --classes 10 --dim 20 --counts $counts --loss ce --lpm --ew 1 --eh 5 \
      --steps 10000 --lr 1 --log-every 100 --out $out
    local m=$out/metrics.csv
    echo "$i,$r,$(awk -v a="$na" -v b="$nb" 'BEGIN { printf "%.6g", a / b }'),$na,$nb,$(lastdef $m minority_cos_W),$(lastdef $m majority_cos_W),$(col $m objective)" >> $R/sweep.csv
    rm -f $out/*.npy
  done
  # around the transition: n_minor = 4, R = n_major / 4 from 11 to 14
  echo "R_eff,n_major,n_minor,minority_cos_W,step_minority,majority_cos_W,step_majority,objective" > $R/refine.csv
  for na in $(seq 44 56); do
    local out=$R/runs/refine$na
    ufm --classes 10 --dim 20 --counts "$na,$na,$na,$na,$na,4,4,4,4,4" --loss ce --lpm --ew 1 \
      --eh 5 --steps 10000 --lr 1 --log-every 100 --out $out
    local m=$out/metrics.csv
    echo "$(awk -v a="$na" 'BEGIN { printf "%.6g", a / 4 }'),$na,4,$(lastdef $m minority_cos_W),$(lastdef $m majority_cos_W),$(col $m objective)" >> $R/refine.csv
    rm -f $out/*.npy
  done
}

[ $# -gt 0 ] || set -- closed deep lpm
for step in "$@"; do "$step"; done
