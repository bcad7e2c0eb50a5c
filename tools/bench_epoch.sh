#!/usr/bin/env bash
# A whole CIFAR-10 ResNet-20 epoch end to end (issue 10), collapse against
# PyTorch, alternated for ROUNDS rounds:
#   build/collapse train --arch resnet20 --data cifar10 --epochs 1 --normalize
#     --out TMP --threads T           (the default study: epochs 0 and 1 analyzed)
#   /usr/bin/python3 tools/epoch_torch.py --threads T   (the same work, see there)
# and prints the wall time of each (the whole process, loading included), the
# ratio torch / collapse (> 1: collapse is faster) and the load average.
#
# Usage: tools/bench_epoch.sh [ROUNDS] [-- EXTRA ARGS FOR BOTH]   (default 1 round)
#   e.g. tools/bench_epoch.sh 1 -- --train-per-class 20 --test-per-class 20 (smoke test)
# Env: BENCH_THREADS (default 2), BUILD (default build), TORCH_PY (default
# /usr/bin/python3), COLLAPSE_DATA (default data/). Needs `make` and the CIFAR-10
# .bin.gz files in $COLLAPSE_DATA/cifar10.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench_epoch.sh: ROUNDS '$rounds' is not a positive integer" >&2; exit 2; }
shift || true
[[ ${1:-} == -- ]] && shift
extra=("$@")
B=${BUILD:-build}
PY=${TORCH_PY:-/usr/bin/python3}
T=${BENCH_THREADS:-${COLLAPSE_BENCH_THREADS:-2}}
export COLLAPSE_DATA=${COLLAPSE_DATA:-$PWD/data} # OMP_WAIT_POLICY: as the caller has it
[[ -x $B/collapse ]] || { echo "bench_epoch.sh: $B/collapse missing (make)" >&2; exit 2; }
torch=1
"$PY" -c "import torch" 2>/dev/null || torch=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
echo "== one ResNet-20 epoch on CIFAR-10 with the default study, $T threads, $rounds round(s)${extra:+, args: ${extra[*]}}"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
for r in $(seq 1 "$rounds"); do
  rm -rf "$tmp/c"
  t0=$(now)
  "$B/collapse" train --arch resnet20 --data cifar10 --epochs 1 --normalize --threads "$T" \
    --out "$tmp/c" "${extra[@]}" >"$tmp/c.log" 2>&1 || { cat "$tmp/c.log" >&2; exit 1; }
  tc=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
  line="round $r: collapse $tc s"
  if ((torch)); then
    t0=$(now)
    "$PY" tools/epoch_torch.py --threads "$T" --out "$tmp/t" "${extra[@]}" >"$tmp/t.log" 2>&1 ||
      { cat "$tmp/t.log" >&2; exit 1; }
    tt=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
    line="$line, PyTorch $tt s, PyTorch / collapse $(awk -v a="$tt" -v b="$tc" 'BEGIN { printf "%.2f", a / b }')x"
  fi
  echo "$line (load $(cut -d' ' -f1 /proc/loadavg))"
  echo "  collapse: $(grep -E '^epoch ' "$tmp/c.log" | tail -1)"
  ((torch)) && echo "  PyTorch:  $(grep -E '^times:' "$tmp/t.log")"
done
((torch)) || echo "PyTorch comparison skipped: $PY cannot import torch"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(grep -m1 -o 'OpenBLAS core [A-Za-z0-9]*' "$tmp/c.log" || echo 'OpenBLAS core ?'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
