#!/usr/bin/env bash
# collapse against PyTorch (issue 10), measured in one run that alternates the
# two programs: for each of ROUNDS rounds and each model (MLP, ResNet-20,
# ResNet-18), `build/bench/bench_2_layers --only MODEL --summary` then
# `tools/bench_torch.py --only MODEL` (its configurations hugetlb and mmap, each
# in a fresh process; the best per workload counts). Prints img/s and the ratio
# per round, then min-max over the rounds (and the median of the ratios) for
#   ResNet-20 train (batch 128) / eval (256), ResNet-18 train / eval (128),
#   MLP train (128),
# then the peak memory of a ResNet-18 train step at batch 128, each in its own
# process (bench_2_layers --rss; bench_torch.py --rss-only in the configuration
# that won PyTorch's ResNet-18 train), the load average before and after, the
# OpenBLAS core, the instruction-set path and the commit.
#
# Usage: tools/bench_compare.sh [ROUNDS]   (default 1)
# Env: BENCH_THREADS (default 2), BENCH_QUICK=1 or COLLAPSE_BENCH_QUICK=1 (smoke run: --quick on both
# sides, batch sizes differ, not a measurement), BUILD (default build),
# TORCH_PY (default /usr/bin/python3). Needs `make bench-build`.
# Without torch in $TORCH_PY it prints collapse's numbers and one line saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench_compare.sh: ROUNDS '$rounds' is not a positive integer" >&2; exit 2; }
B=${BUILD:-build}
PY=${TORCH_PY:-/usr/bin/python3}
T=${BENCH_THREADS:-${COLLAPSE_BENCH_THREADS:-2}}
Q=()
quick=${BENCH_QUICK:-${COLLAPSE_BENCH_QUICK:-0}}
[[ -n $quick && $quick != 0 ]] && Q=(--quick)
# OMP_WAIT_POLICY is left as the caller has it (unset = libgomp spins briefly at
# barriers: ResNet-20 train 680 vs 625 img/s with PASSIVE here, 2026-12-01).
[[ -x $B/bench/bench_2_layers ]] || { echo "bench_compare.sh: $B/bench/bench_2_layers missing (make bench-build)" >&2; exit 2; }
torch=1
if ! "$PY" -c "import torch" 2>/dev/null; then
  torch=0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== collapse vs PyTorch, $rounds round(s), $T threads${Q:+, QUICK RUN (not a measurement)}"
echo "load average before: $load0; OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
W=(resnet20_train resnet20_eval resnet18_train resnet18_eval mlp_train)
for r in $(seq 1 "$rounds"); do
  kv=$tmp/round$r.kv
  : >"$kv"
  for m in mlp resnet20 resnet18; do
    "$B/bench/bench_2_layers" --threads "$T" "${Q[@]}" --only "$m" --summary >"$tmp/c.out"
    grep -E '^collapse_[a-z0-9]+_(train|eval) ' "$tmp/c.out" >>"$kv"
    grep -m1 -o 'OpenBLAS core [A-Za-z0-9]*' "$tmp/c.out" >"$tmp/core" || true
    grep -m1 -o 'isa [a-z0-9]*' "$tmp/c.out" >"$tmp/isa" || true
    if ((torch)); then
      "$PY" tools/bench_torch.py --threads "$T" "${Q[@]}" --only "$m" --no-rss --kv "$tmp/t.kv" \
        >"$tmp/t.out"
      grep -E '^torch_[a-z0-9]+_(train|eval)(_config)? ' "$tmp/t.kv" >>"$kv"
    fi
  done
  echo "-- round $r (load $(cut -d' ' -f1 /proc/loadavg))"
  awk -v t="$torch" '
    { v[$1] = $2 }
    END {
      n = split("resnet20_train resnet20_eval resnet18_train resnet18_eval mlp_train", w, " ")
      printf "%-16s %10s %10s %-8s %7s\n", "workload", "collapse", "pytorch", "config", "ratio"
      for (i = 1; i <= n; i++) {
        c = v["collapse_" w[i]]; p = v["torch_" w[i]]
        if (t && p > 0) printf "%-16s %10.0f %10.0f %-8s %6.2fx\n", w[i], c, p, v["torch_" w[i] "_config"], c / p
        else printf "%-16s %10.0f %10s %-8s %7s\n", w[i], c, "-", "-", "-"
      }
    }' "$kv"
done
# On a shared host each program's rate drifts by up to a third between rounds
# (docs/BENCH.md), so a single round's ratio can land on a slow phase of one
# and a fast phase of the other: the median of the per-round ratios is printed
# next to their range.
echo "-- overall, min-max over $rounds round(s) (img/s; ratio = collapse / PyTorch best, per round; its median)"
cat "$tmp"/round*.kv | awk -v t="$torch" -v R="$rounds" '
  function upd(k, x) { if (!(k in lo) || x < lo[k]) lo[k] = x; if (!(k in hi) || x > hi[k]) hi[k] = x }
  function median(k, m,   a, i, j, x) {
    for (i = 1; i <= m; i++) a[i] = rs[k, i]
    for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  /^collapse_/ { c[$1, ++nc[$1]] = $2 }
  /^torch_[a-z0-9]+_(train|eval) / { p[$1, ++np[$1]] = $2 }
  END {
    n = split("resnet20_train resnet20_eval resnet18_train resnet18_eval mlp_train", w, " ")
    printf "%-16s %14s %14s %14s\n", "workload", "collapse", "pytorch", "ratio"
    for (i = 1; i <= n; i++) {
      kc = "collapse_" w[i]; kp = "torch_" w[i]
      for (j = 1; j <= nc[kc]; j++) {
        upd(kc, c[kc, j])
        if (t && j <= np[kp]) {
          upd(kp, p[kp, j])
          if (p[kp, j] > 0) { upd("r" w[i], c[kc, j] / p[kp, j]); rs[w[i], ++nr[w[i]]] = c[kc, j] / p[kp, j] }
        }
      }
      if (t && ("r" w[i]) in lo)
        printf "%-16s %6.0f-%-7.0f %6.0f-%-7.0f %5.2f-%.2fx (median %.2fx)\n", w[i], lo[kc], hi[kc], lo[kp], hi[kp], lo["r" w[i]], hi["r" w[i]], median(w[i], nr[w[i]])
      else printf "%-16s %6.0f-%-7.0f %14s %14s\n", w[i], lo[kc], hi[kc], "-", "-"
    }
  }'
# peak memory, each in its own process
cr=$("$B/bench/bench_2_layers" --threads "$T" "${Q[@]}" --rss | awk '/^collapse_rss_mib/ { print $2 }')
if ((torch)); then
  cfg=$(awk '/^torch_resnet18_train_config / { print $2 }' "$tmp/round$rounds.kv" | tail -1)
  "$PY" tools/bench_torch.py --threads "$T" "${Q[@]}" --rss-only --configs "${cfg:-hugetlb}" \
    --kv "$tmp/rss.kv" >/dev/null
  tr=$(awk '/^torch_rss_mib / { print $2 }' "$tmp/rss.kv")
  awk -v c="$cr" -v p="$tr" -v g="${cfg:-hugetlb}" -v b="$( ((${#Q[@]})) && echo 16 || echo 128)" 'BEGIN {
    printf "max RSS, ResNet-18 train step, batch %s: collapse %.0f MiB, PyTorch (%s) %.0f MiB, collapse / PyTorch %.2f\n",
      b, c, g, p, c / p }'
else
  echo "max RSS, ResNet-18 train step: collapse $cr MiB"
  echo "PyTorch comparison skipped: $PY cannot import torch"
fi
echo "load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(cat "$tmp/core" 2>/dev/null || echo 'OpenBLAS core ?'), path $(cat "$tmp/isa" 2>/dev/null || echo 'isa ?') (COLLAPSE_ISA=${COLLAPSE_ISA:-auto}), COLLAPSE_CONV=${COLLAPSE_CONV:-auto}, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (modified)')"
