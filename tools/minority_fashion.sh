#!/bin/sh
# Minority collapse on a real network (Fang, He, Long & Su, PNAS 2021; issue 15 section 2):
# an MLP on Fashion-MNIST, 1000 training images per class, the last 5 classes cut to
# 1/R of theirs (--imbalance R --minority 5), R on a log grid. Writes OUT/R<R>/ (one
# collapse run each), OUT/summary.csv (the last epoch's minority/majority cosines of the
# classifier rows W and of the centred class means M, accuracies, NC1) and OUT/cosines.png
# (the four cosines against R). R = 1 (balanced) gets its cosines from `collapse analyze
# --minority-classes 5-9` on the saved features. Each run is 60 epochs on about 5000 images: 1-2 minutes of
# one core. Usage: tools/minority_fashion.sh [OUT] (default results/minority_fashion);
# RATIOS="1 10" to run a subset; TRAIN=0 to redo only the summary and the figure from the
# runs already there; COLLAPSE_BIN to use another binary.
set -eu
BIN=${COLLAPSE_BIN:-build/collapse}
OUT=${1:-results/minority_fashion}
RATIOS=${RATIOS:-"1 3 10 30 100 300 1000"}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
mkdir -p "$OUT"
cat > "$OUT/mlp.cfg" <<'EOF'
; the MLP of tools/minority_fashion.sh: 784-512x3-10, BatchNorm after each hidden linear
[model]
type = mlp
width = 512
depth = 3
bn = 1
EOF
for R in $RATIOS; do
    [ "${TRAIN:-1}" = 0 ] && continue
    rm -rf "$OUT/R$R"
    nice "$BIN" train --model "$OUT/mlp.cfg" --data fashion --train-per-class 1000 \
        --test-per-class 200 --imbalance "$R" --minority 5 --epochs 60 --batch 128 \
        --lr 0.05 --schedule cosine --wd 5e-4 --no-layers --seed 1 --out "$OUT/R$R" \
        > "$OUT/R$R.log"
    grep -E "class counts|^done" "$OUT/R$R.log"
done
# the last row's value of column $2 in metrics.csv $1 ("nan" when there is no such column)
last() { awk -F, -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i }
    END { print c ? $c : "nan" }' "$1"; }
# the key $2 of `collapse analyze` on run $1's saved features with classes 5-9 as the
# minority (R = 1 has equal counts, so the study writes no imbalance columns for it)
analyzed() { "$BIN" analyze --features "$1/features_train.npy" --labels "$1/labels_train.npy" \
    --weights "$1/W.npy" --bias "$1/b.npy" --minority-classes 5-9 --json |
    tr ',{}' '\n\n\n' | awk -F: -v k="\"$2\"" '$1 ~ k { gsub(/ /, "", $2); print $2 }'; }
value() {
    v=$(last "$1/metrics.csv" "$2")
    case "$v" in nan | "") analyzed "$1" "$2" ;; *) echo "$v" ;; esac
}
KEYS="minority_cos_W minority_cos_M majority_cos_W majority_cos_M train_acc test_acc nc1 nc4"
{
    printf 'R'
    for k in $KEYS; do printf ',%s' "$k"; done
    printf ',simplex_etf\n' # -1/(K-1): the cosine of a simplex ETF, the balanced optimum
    for R in $RATIOS; do
        printf '%s' "$R"
        for k in $KEYS; do printf ',%s' "$(value "$OUT/R$R" "$k")"; done
        printf ',%s\n' -0.1111111111111111
    done
} > "$OUT/summary.csv"
cat "$OUT/summary.csv"
"$BIN" plot --csv "$OUT/summary.csv" --x R --logx \
    --y minority_cos_W,minority_cos_M,majority_cos_W,majority_cos_M,simplex_etf \
    --title "Fashion-MNIST MLP, 5 minority classes: mean pairwise cosine at epoch 60" \
    --ylabel "mean pairwise cosine" --png "$OUT/cosines.png"
