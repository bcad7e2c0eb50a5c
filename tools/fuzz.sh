#!/usr/bin/env bash
# Runs libFuzzer targets built by `make fuzz-build`, one after the other.
# Usage: tools/fuzz.sh [-t SECONDS | -r RUNS] [-m] [TARGET...]
#   -t S   run each target S seconds (default 60)
#   -r N   run each target for N executions instead (the campaign: -r 1000000)
#   -m     afterwards merge new coverage into tests/fuzz/corpus/<target>/
#          (libFuzzer -merge=1: only inputs that add coverage; review the size)
# No TARGET = every tests/fuzz/<target>.c. Per target: the committed corpus
# tests/fuzz/corpus/<t>/ is read, new inputs go to build/fuzz/corpus/<t>/,
# crashes to build/fuzz/artifacts/<t>/, the log to build/fuzz/logs/<t>.log.
# Options: the target's "FUZZ_ARGS:" line (its -max_len), -rss_limit_mb=2048
# (and so a 2 GB malloc limit), one process at nice 10, one OpenMP thread.
# Prints one line per target: executions, cov, ft, corpus, crash files.
# Exit status 1 if any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=60)
merge=0
while getopts "t:r:m" o; do
  case $o in
    t) limit=(-max_total_time="$OPTARG") ;;
    r) limit=(-runs="$OPTARG") ;;
    m) merge=1 ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*.c; do
    t=$(basename "$f" .c)
    [ "$t" = fuzz_util ] || targets+=("$t")
  done
fi
bad=0
for t in "${targets[@]}"; do
  bin=build/fuzz/$t
  [ -x "$bin" ] || { echo "fuzz.sh: $bin missing (make fuzz-build)" >&2; exit 2; }
  read -r -a args <<<"$(sed -n 's/^.*FUZZ_ARGS: *\([^*]*\).*/\1/p' "tests/fuzz/$t.c" | head -n1)"
  work=build/fuzz/corpus/$t art=build/fuzz/artifacts/$t log=build/fuzz/logs/$t.log
  mkdir -p "$work" "$art" "$(dirname "$log")" "tests/fuzz/corpus/$t"
  rc=0
  OMP_NUM_THREADS=1 nice -n 10 "$bin" "${args[@]}" "${limit[@]}" -rss_limit_mb=2048 \
    -timeout=25 -print_final_stats=1 -artifact_prefix="$art/" \
    "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  covline=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED).* cov: ' "$log" | tail -n1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$covline")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$covline")
  crashes=$(find "$art" -type f | wc -l)
  echo "$t: rc=$rc execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=$(ls "$work" | wc -l) crash_files=$crashes log=$log"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then bad=1; fi
  if [ "$merge" = 1 ]; then
    OMP_NUM_THREADS=1 nice -n 10 "$bin" "${args[@]}" -rss_limit_mb=2048 -merge=1 \
      "tests/fuzz/corpus/$t" "$work" >>"$log" 2>&1
  fi
done
exit $bad
