#!/usr/bin/env bash
# Dependencies run one way (docs/ARCHITECTURE.md): a module may include the
# public headers of modules below it, never above or beside it. Prints each
# include that breaks the rule and exits 1 if there is one.
#   cli -> study -> train -> model -> analysis/layers -> io/data/kernels -> core
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A module=(
  [error]=core [mem]=core [rng]=core [blas]=core [sys]=core [shape]=core [comm]=core [isa]=core
  [kernels_dense]=kernels [kernels_conv]=kernels [kernels_blocked]=kernels [kernels_gemm]=kernels
  [npy]=io [csv]=io [json]=io [plot]=io [ckpt]=io [atomic]=io
  [data]=data [nn]=layers [nc]=analysis [onc]=analysis [nrc]=analysis [mlab]=analysis
  [builders]=model [modelcfg]=model [etf]=model
  [loss]=train [optim]=train [sched]=train [train]=train [study]=study
  [transfer]=analysis [probe]=study
  [ufm]=ufm)
declare -A level=([core]=0 [kernels]=1 [io]=1 [data]=1 [layers]=2 [analysis]=2
                  [model]=3 [train]=4 [ufm]=4 [study]=5 [cli]=6)
bad=0
for f in src/*/*.[ch] include/collapse/*.h; do
  case $f in
    include/*) h=$(basename "$f" .h); own=${module[$h]:-}
               [ -n "$own" ] || { echo "$f: header not in tools/check-layers.sh"; bad=1; continue; } ;;
    *) own=$(echo "$f" | cut -d/ -f2) ;;
  esac
  for inc in $(grep -o '#include "collapse/[a-z_]*\.h"' "$f" | sed 's/.*collapse\/\(.*\)\.h"/\1/'); do
    m=${module[$inc]:-}
    if [ -z "$m" ]; then echo "$f: collapse/$inc.h not in tools/check-layers.sh"; bad=1; continue; fi
    if [ "$m" != "$own" ] && [ "${level[$m]}" -ge "${level[$own]}" ]; then
      echo "$f ($own) includes collapse/$inc.h ($m)"; bad=1
    fi
  done
done
[ $bad = 0 ] && echo "check-layers: every include runs downward"
exit $bad
