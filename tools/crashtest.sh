#!/usr/bin/env bash
# Crash test (issue 11): kill -9 a short `collapse train` run at N seeded
# random moments, resume it (the resume itself is killed again at random
# now and then), and check that every resumed run ends byte-identical to an
# uninterrupted one: metrics.csv without its timing columns (epoch_seconds,
# analysis_seconds), layers.csv, every .npy and the newest model checkpoint.
#
#   tools/crashtest.sh [N] [--seed S] [--keep]
#
# The run is a small MLP on 20 MNIST images per class with a study every
# epoch, so that writing results and checkpoints is a good part of its time.
# The odd-numbered kills come at moments spread uniformly over the
# uninterrupted run's wall time (setup, training, study, checkpoint and result
# writes alike); the even-numbered ones inside a random write call to a file
# (the fault shim, tests/faultshim.c, SIGKILLs the run there). Every
# kill is followed by `--resume` on the same folder (a plain start only if
# the folder was not created yet); the script never removes or repairs
# anything. Prints one line per kill and at the end
#   crashtest: N kills, M identical
# Exit status 0 if M = N. Needs build/collapse (or $COLLAPSE_BIN) and MNIST
# in data/mnist (or $COLLAPSE_DATA/mnist); --keep keeps the run folders.
set -euo pipefail
cd "$(dirname "$0")/.."

N=5
SEED=1
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --seed) SEED="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) N="$1"; shift ;;
    esac
done
BIN="${COLLAPSE_BIN:-build/collapse}"
DATA="${COLLAPSE_DATA:-data}"
[ -x "$BIN" ] || { echo "crashtest: $BIN missing (make)" >&2; exit 2; }
[ -f "$DATA/mnist/train-images-idx3-ubyte.gz" ] || { echo "crashtest: no MNIST in $DATA/mnist (make data)" >&2; exit 2; }

ARGS=(train --arch mlp --data mnist --data-dir "$DATA/mnist" --train-per-class 20
      --test-per-class 20 --epochs 6 --batch 25 --analyze all --threads 1 --seed 1)
WORK=$(mktemp -d /tmp/crashtest_XXXXXX)
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT

now() { date +%s.%N; }

# metrics.csv without the timing columns
metrics_cells() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i != "epoch_seconds" && $i != "analysis_seconds") keep[i] = 1 }
             { s = ""; for (i = 1; i <= NF; i++) if (keep[i]) s = s $i ","; print s }' "$1"
}

# the model checkpoint with the largest step in a results folder
newest_model() {
    local best="" bstep=-1 f s
    for f in $(find "$1/checkpoint" -name '*model*.ckpt' 2>/dev/null); do
        s=$(od -An -t d8 -j 16 -N 8 "$f" | tr -d ' ')
        if [ -n "$s" ] && [ "$s" -gt "$bstep" ]; then best=$f; bstep=$s; fi
    done
    echo "$best"
}

# "" if dir ended like the reference, else what differs
compare() {
    local ref=$1 got=$2 f why=""
    cmp -s <(metrics_cells "$ref/metrics.csv") <(metrics_cells "$got/metrics.csv" 2>/dev/null) ||
        why+=" metrics.csv"
    for f in layers.csv $(cd "$ref" && ls *.npy); do
        cmp -s "$ref/$f" "$got/$f" 2>/dev/null || why+=" $f"
    done
    local mr mg
    mr=$(newest_model "$ref")
    mg=$(newest_model "$got")
    { [ -n "$mg" ] && cmp -s "$mr" "$mg"; } || why+=" model checkpoint"
    echo "$why"
}

# one run in $1 (resume if $2 = 1), killed after $3 seconds (0 = never);
# the environment words in PRE (e.g. LD_PRELOAD=...) are given to it.
# Sets RC (137 when killed) and appends its output to $1.log.
PRE=()
run_once() {
    local dir=$1 resume=$2 after=$3 pid
    local extra=()
    [ "$resume" = 1 ] && extra=(--resume)
    env "${PRE[@]}" "$BIN" "${ARGS[@]}" --out "$dir" "${extra[@]}" >>"$dir.log" 2>&1 &
    pid=$!
    if [ "$after" != 0 ]; then
        sleep "$after"
        kill -9 "$pid" 2>/dev/null || true
    fi
    set +e
    { wait "$pid"; } 2>/dev/null # no "Killed" job notice
    RC=$?
    set -e
}

has_checkpoint() { # any checkpoint file renamed into place
    [ -n "$(find "$1/checkpoint" -type f -name '*.ckpt' 2>/dev/null | head -1)" ]
}

# Two uninterrupted runs: the reference, and a second one (timed, with warm
# caches) that must match it, or the comparison would mean nothing.
REF="$WORK/ref"
run_once "$REF" 0 0
[ "$RC" = 0 ] || { echo "crashtest: the reference run failed:" >&2; cat "$REF.log" >&2; exit 2; }
t0=$(now)
run_once "$WORK/ref2" 0 0
T=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
why=$(compare "$REF" "$WORK/ref2")
[ -z "$why" ] || { echo "crashtest: two uninterrupted runs differ:$why" >&2; exit 2; }
echo "crashtest: uninterrupted run ${T}s (two runs identical); $N kills, seed $SEED, in $WORK"

# Every second kill lands inside a write instead of at a moment: the fault
# shim (make test builds it) counts the writes to files of a third
# uninterrupted run, then SIGKILLs a run at a random one of them
# (COLLAPSE_FAULT_KILL), inside checkpoint, CSV, .npy, PNG or JSON writes.
SHIM="${COLLAPSE_FAULTSHIM:-$(dirname "$BIN")/tests/faultshim.so}"
CALLS=0
if [ -f "$SHIM" ]; then
    PRE=(LD_PRELOAD="$(realpath "$SHIM")" COLLAPSE_FAULT_LOG="$WORK/calls.log")
    run_once "$WORK/ref3" 0 0
    PRE=()
    why=$(compare "$REF" "$WORK/ref3")
    [ "$RC" = 0 ] && [ -z "$why" ] || { echo "crashtest: the run under the shim differs:$why" >&2; exit 2; }
    CALLS=$(wc -l <"$WORK/calls.log")
    echo "crashtest: $CALLS counted writes per run; even-numbered kills hit one of them"
else
    echo "crashtest: no $SHIM (make test builds it): every kill is at a random moment"
fi

RANDOM=$SEED
ok=0
rekills=0
for i in $(seq 1 "$N"); do
    dir="$WORK/run$i"
    # uniform in [0, T), from two 15-bit draws
    at=$(awk -v t="$T" -v r=$((RANDOM * 32768 + RANDOM)) 'BEGIN { printf "%.3f", t * r / 1073741824 }')
    if [ "$CALLS" -gt 0 ] && [ $((i % 2)) = 0 ]; then
        k=$(( (RANDOM * 32768 + RANDOM) % CALLS + 1 ))
        PRE=(LD_PRELOAD="$(realpath "$SHIM")" COLLAPSE_FAULT_WRITE=$k COLLAPSE_FAULT_KILL=1)
        run_once "$dir" 0 0
        PRE=()
        what=$(awk -v k="$k" '$1 == k { print $2 " " $3 }' "$WORK/calls.log")
        note="killed in write $k/$CALLS (${what//"$WORK"\/ref3\//})"
    else
        run_once "$dir" 0 "$at"
        note="killed at ${at}s"
    fi
    first=$RC
    [ "$first" = 137 ] || note="run ended ($first) before: $note"
    tries=0
    while :; do
        tries=$((tries + 1))
        # --resume whenever the folder exists: before the first checkpoint it
        # starts over by itself (after checking the options), so the script
        # never cleans up after a kill
        if [ -d "$dir" ]; then
            resume=1
            has_checkpoint "$dir" || note+=", no checkpoint yet"
        else
            resume=0
            note+=", folder not created yet"
        fi
        # the first two resumes are killed again with probability 1/3
        after=0
        if [ "$tries" -le 2 ] && [ $((RANDOM % 3)) = 0 ]; then
            after=$(awk -v t="$T" -v r=$RANDOM 'BEGIN { printf "%.3f", t * r / 32768 }')
        fi
        run_once "$dir" "$resume" "$after"
        if [ "$RC" = 137 ]; then
            rekills=$((rekills + 1))
            note+=", resume killed at ${after}s"
            continue
        fi
        break
    done
    if [ "$RC" != 0 ]; then
        why="the resume failed ($RC): $(tail -1 "$dir.log")"
    else
        why=$(compare "$REF" "$dir")
        [ -z "$why" ] || why="differs:$why"
    fi
    if [ -z "$why" ]; then
        ok=$((ok + 1))
        echo "kill $i: $note; identical"
        [ "$KEEP" = 1 ] || rm -rf "$dir" "$dir.log"
    else
        echo "kill $i: $note; $why"
    fi
done
echo "crashtest: $rekills more kills during resumes"
echo "crashtest: $N kills, $ok identical"
[ "$ok" = "$N" ]
