#!/usr/bin/env bash
# Data-parallel speed (issue 12): ResNet-20 (CIFAR-10, 2,560 images) and the MLP
# (MNIST, 10,000 images), one training epoch each, batch 128, study off;
# np = 1 x 2 threads (plain binary) alternated with np = 2 x 1 thread
# (build/collapse-mpi under mpirun), ROUNDS rounds; prints img/s of the epoch
# line and the `ddp:` line (allreduce share, hidden part). Needs `make` and
# `make mpi`. Usage: tools/bench_ddp.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export COLLAPSE_DATA=${COLLAPSE_DATA:-$PWD/data} OMP_WAIT_POLICY=PASSIVE
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=build
R20="train --arch resnet20 --data cifar10 --train-per-class 256 --test-per-class 1 --epochs 1 --batch 128 --analyze none"
MLP="train --arch mlp --data mnist --train-per-class 1000 --test-per-class 1 --epochs 1 --batch 128 --analyze none"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "${1:-3}"); do
  for m in R20 MLP; do
    A=${!m}
    a=$($B/collapse $A --threads 2 --out "$tmp/a$round$m" 2>&1 | grep -o "[0-9]* img/s" | tail -1)
    o=$(mpirun -np 2 --oversubscribe $B/collapse-mpi $A --threads 1 --out "$tmp/b$round$m" 2>&1)
    b=$(echo "$o" | grep -o "[0-9]* img/s" | tail -1)
    echo "round $round $m  np 1 x 2 threads: $a   np 2 x 1 thread: $b"
    echo "  $(echo "$o" | grep '^ddp:')"
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
$B/collapse --version | tail -1
