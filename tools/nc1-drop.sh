#!/usr/bin/env bash
# Prints how far NC1 fell in a results folder: first vs last row of metrics.csv.
# Usage: tools/nc1-drop.sh results/NAME
set -euo pipefail
f="${1:?usage: tools/nc1-drop.sh RUNDIR}/metrics.csv"
[ -f "$f" ] || { echo "nc1-drop: $f: no such file" >&2; exit 1; }
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "nc1") c = i; if ($i == "train_acc") a = i }
                   if (!c) { print "nc1-drop: no nc1 column in " FILENAME > "/dev/stderr"; exit 1 } next }
         NR == 2 { e0 = $1; n0 = $c }
         { e1 = $1; n1 = $c; acc = $a }
         END { if (NR < 3) { print "nc1-drop: fewer than two rows in " FILENAME > "/dev/stderr"; exit 1 }
               printf "NC1 %.4g at epoch %s -> %.4g at epoch %s: %.0fx lower (train accuracy %.2f%%)\n",
                      n0, e0, n1, e1, n0 / n1, 100 * acc }' "$f"
