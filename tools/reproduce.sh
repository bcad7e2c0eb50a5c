#!/usr/bin/env bash
# The full-dataset reproductions of issue 14 (results/README.md, "Full-dataset
# reproductions"): all 60,000 training images of MNIST / Fashion-MNIST, 3 seeds.
#
#   tools/reproduce.sh [--list] [STUDY...]    (default: every study, in priority order)
#
# Studies (each run is a normal results folder results/<study>/<run>):
#   papyan_mnist, papyan_fashion   Papyan et al. 2020: MLP 784-512x3-10 (models/mlp512.cfg),
#                                  CE and MSE, 350 epochs, seeds 1-3
#   losses_fashion                 Zhou et al. 2022: label smoothing 0.1 and focal 2 (CE and MSE
#                                  are the papyan_fashion runs), same MLP, 350 epochs, seeds 1-3
#   etf_fashion                    Zhu et al. 2021: classifier fixed to a simplex ETF, seeds 1-3:
#                                  rotated (--etf-mode rotate), d = 512 and d = K = 10
#                                  (--feature-dim 10); and zero-padded, d = K = 10 (--etf-mode
#                                  pad, Zhu et al.'s own ETF: every class stays reachable by the
#                                  nonnegative ReLU features, which a rotated d = K ETF need not
#                                  allow, results/README.md)
#   wd_mnist                       papyan_mnist's CE run without weight decay (--wd 0), seed 1:
#                                  the full-data check of tools/nc1_ablation.sh
#   random_mnist                   every MNIST training label shuffled (labels independent of the
#                                  images, class counts kept), MLP 784-1024x3-10, 350 epochs,
#                                  lr 0.01 constant, no weight decay: at lr 0.1 + wd 5e-4 the
#                                  loss stays at ln 10 (results/random_mnist/lr_probe.log)
#   convnet_mnist, convnet_fashion the ConvNet (models/convnet.cfg), CE and MSE, seeds 1-3,
#                                  MSE at lr 0.01: at 0.1 its loss is NaN at step 18 of
#                                  epoch 1 (collapse's MSE sums the K squared errors, 10x
#                                  PyTorch's MSELoss, so 0.01 takes MSELoss's steps at lr 0.1;
#                                  a 3-epoch sweep: 0.05, 0.02, 0.01 all train),
#                                  REPRO_CONVNET_EPOCHS (100) epochs: 350 would take ~2.8 h a run here
#                                  (~25 s an epoch + ~24 s per analyzed one, two runs sharing the 2 cores)
#
# A run whose folder exists is continued with --resume (a finished one prints "complete" and
# its log and wall time are left as they were), so the script can be stopped at any moment
# (kill -9 included) and started again; the runs end bit-identical to uninterrupted ones
# (docs/RELIABILITY.md).
# REPRO_JOBS runs at a time (2), each with REPRO_THREADS threads (1): on this 2-core machine
# two one-thread MLP runs do more work per hour than one two-thread run.
# --list prints every run with its state (epochs done / planned) and does nothing else.
# COLLAPSE_BIN: the binary (build/collapse). Each run also gets <run>.log (its output) and
# <run>.time (one line per invocation: start end seconds status; an invocation killed before
# its end is timed to the last write of its log when the run is next started). Tables and
# figures: tools/repro_summary.py.
set -eu
BIN=${COLLAPSE_BIN:-build/collapse}
JOBS=${REPRO_JOBS:-2}
THREADS=${REPRO_THREADS:-1}
CNN_E=${REPRO_CONVNET_EPOCHS:-100}
R=results
MLP="--model models/mlp512.cfg"

# One line per run: study run epochs options, in the order they run: every CE seed of
# papyan_* first (the question of the issue: does NC1 fall steadily with CE?).
plan() {
    for l in ce mse; do
        for s in 1 2 3; do
            for d in mnist fashion; do
                case " $* " in *" papyan_$d "*)
                    echo "papyan_$d mlp_${l}_s$s 350 $MLP --data $d --loss $l --seed $s" ;; esac
            done
        done
    done
    for s in 1 2 3; do
        case " $* " in *" losses_fashion "*)
            echo "losses_fashion mlp_ls_s$s 350 $MLP --data fashion --loss ls=0.1 --seed $s"
            echo "losses_fashion mlp_focal_s$s 350 $MLP --data fashion --loss focal=2 --seed $s" ;; esac
        case " $* " in *" etf_fashion "*)
            echo "etf_fashion mlp_etf512_s$s 350 $MLP --data fashion --classifier etf --seed $s"
            echo "etf_fashion mlp_etfpad10_s$s 350 $MLP --data fashion --classifier etf --etf-mode pad --feature-dim 10 --seed $s"
            echo "etf_fashion mlp_etf10_s$s 350 $MLP --data fashion --classifier etf --feature-dim 10 --seed $s" ;; esac
    done
    case " $* " in *" wd_mnist "*)
        echo "wd_mnist mlp_ce_wd0_s1 350 $MLP --data mnist --loss ce --wd 0 --seed 1" ;; esac
    case " $* " in *" random_mnist "*)
        echo "random_mnist mlp1024_s1 350 --model models/mlp.cfg --data mnist --random-labels 1 --random-labels-mode shuffle --lr 0.01 --schedule const --wd 0 --seed 1" ;; esac
    for s in 1 2 3; do
        for d in mnist fashion; do
            case " $* " in *" convnet_$d "*)
                echo "convnet_$d ce_s$s $CNN_E --model models/convnet.cfg --data $d --loss ce --seed $s"
                echo "convnet_$d mse_s$s $CNN_E --model models/convnet.cfg --data $d --loss mse --lr 0.01 --seed $s" ;; esac
        done
    done
}

LIST=0
[ "${1:-}" = --list ] && { LIST=1; shift; }
STUDIES=${*:-papyan_mnist papyan_fashion losses_fashion etf_fashion wd_mnist random_mnist convnet_mnist convnet_fashion}
for st in $STUDIES; do
    case $st in
    papyan_mnist|papyan_fashion|losses_fashion|etf_fashion|wd_mnist|random_mnist|convnet_mnist|convnet_fashion) ;;
    *) echo "tools/reproduce.sh: unknown study '$st'" >&2; exit 2 ;;
    esac
done

# epochs done: the last data row of metrics.csv (0 when there is none)
done_epochs() {
    [ -f "$1/metrics.csv" ] || { echo 0; return; }
    awk -F, 'NR > 1 && $1 ~ /^[0-9]+$/ { e = $1 } END { print e + 0 }' "$1/metrics.csv"
}

if [ $LIST = 1 ]; then
    plan $STUDIES | while read -r st run ep _; do
        printf '%-40s %4s / %s\n' "$R/$st/$run" "$(done_epochs "$R/$st/$run")" "$ep"
    done
    exit 0
fi

run_one() {
    st=$1 run=$2 ep=$3; shift 3
    out=$R/$st/$run
    mkdir -p "$R/$st"
    # every row there and no checkpoint (a fresh clone: checkpoints are not in
    # git): finished; `train --resume` would refuse it
    if [ ! -d "$out/checkpoint" ] && [ "$(done_epochs "$out")" -ge "$ep" ]; then
        echo "$(date -u +%H:%M:%S) complete $out (no checkpoint)"
        return 0
    fi
    resume=
    [ -e "$out" ] && resume=--resume
    echo "$(date -u +%H:%M:%S) start $out ($ep epochs) $resume"
    t0=$(date +%s)
    rc=0
    log=$R/$st/$run.log time=$R/$st/$run.time
    # <run>.time, one line per invocation: start end seconds status (exit status, or
    # "killed"); tools/repro_summary.py sums them. An invocation writes "start - -
    # started" first; one killed before its end (kill -9, the machine's end) left
    # that line, and it ended when it last wrote its log (before this one appends)
    last=$(tail -n 1 "$time" 2>/dev/null || true)
    if [ "${last#* - - }" = started ] && [ -f "$log" ]; then
        tk=${last%% *} tl=$(stat -c %Y "$log")
        sed -i '$d' "$time"
        echo "$tk $tl $((tl - tk)) killed" >> "$time"
    fi
    size=$(stat -c %s "$log" 2>/dev/null || echo 0)
    tsize=$(stat -c %s "$time" 2>/dev/null || echo 0)
    echo "$t0 - - started" >> "$time"
    OMP_NUM_THREADS=$THREADS nice "$BIN" train "$@" --epochs "$ep" --threads "$THREADS" \
        --out "$out" $resume >> "$log" 2>&1 || rc=$?
    t1=$(date +%s)
    truncate -s "$tsize" "$time"
    # a finished run: nothing was done, so neither its log nor its wall time grows
    if [ $rc = 0 ] && tail -n 1 "$log" | grep -q "was already complete"; then
        truncate -s "$size" "$log"
        [ -s "$time" ] || rm -f "$time"
        echo "$(date -u +%H:%M:%S) complete $out"
        return 0
    fi
    echo "$t0 $t1 $((t1 - t0)) $rc" >> "$time"
    if [ $rc = 0 ]; then
        echo "$(date -u +%H:%M:%S) done  $out"
    else
        echo "$(date -u +%H:%M:%S) FAILED $out (status $rc, see $R/$st/$run.log)"
        return 1
    fi
}
export -f run_one done_epochs
export BIN THREADS R
plan $STUDIES | xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _
