#!/bin/sh
# bench/dist.sh — data-parallel `nabla train` on Fashion-MNIST (issue 7): the
# MLP and the CNN preset with 1 process x 2 threads, 2 processes x 1 thread
# and 2 processes x 2 threads under mpirun, all with the same global batch 64:
# samples/s (median epoch), test accuracy, and the all-reduce time per step that
# backward did not hide (from the RESULT line of --bench), then the issue's two
# figures: CNN 2x1 >= 0.9x the samples/s of 1x2, and 2-rank accuracy within 0.3
# points of 1 process.
# Usage: bench/dist.sh [BUILD_DIR] [--epochs N] [--cnn-limit N]
#   (defaults: 2 epochs; the CNN on the first 6000 training and test images)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$here/$build" ;; esac
[ $# -gt 0 ] && shift
epochs=2 cnn_limit=6000
while [ $# -gt 0 ]; do
    case "$1" in
    --epochs) epochs=${2:?--epochs N}; shift 2 ;;
    --cnn-limit) cnn_limit=${2:?--cnn-limit N}; shift 2 ;;
    *) echo "bench/dist: unknown option $1" >&2; exit 2 ;;
    esac
done
nabla="$build/nabla"
[ -x "$nabla" ] || { echo "bench/dist: $nabla not built (make build)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "bench/dist: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 2; }
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT
# containers rarely allow the ptrace that vader's single-copy transfers need
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Each configuration runs at its best: OpenMP's default (spinning) wait while
# ranks x threads fit the cores, passive waiting when they oversubscribe them.

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# RUN NAME PROCS THREADS MODEL [flags]: prints the RESULT line
run() {
    name=$1 np=$2 t=$3 model=$4
    shift 4
    if [ "$np" -eq 1 ]; then
        "$nabla" train --model "$model" --epochs "$epochs" --threads "$t" --bench --progress never \
            --out "$out/$name" "$@" 2>"$out/$name.err" | grep '^RESULT'
    else
        # one core per rank when it uses one thread; otherwise let the OS place
        # the threads (this machine may have fewer cores than ranks x threads)
        if [ "$t" -eq 1 ]; then bind="--map-by core --bind-to core"; else bind="--bind-to none"; fi
        wait_policy=ACTIVE
        [ $((np * t)) -gt "$(nproc)" ] && wait_policy=PASSIVE
        mpirun --oversubscribe --allow-run-as-root $bind -x OMP_WAIT_POLICY=$wait_policy -np "$np" \
            "$nabla" train --model "$model" --epochs "$epochs" --threads "$t" --bench --progress never \
            --out "$out/$name" "$@" 2>"$out/$name.err" | grep '^RESULT'
    fi
}

models="mlp"
if "$nabla" train --model cnn --limit 64 --epochs 1 --progress never --out "$out/probe" >/dev/null 2>&1; then
    models="mlp cnn"
else
    echo "(no CNN preset in this build: --model cnn failed; MLP only)"
fi

echo "data-parallel nabla train, Fashion-MNIST, global batch 64, $epochs epochs; $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-5s %-16s %10s %12s %9s %14s %12s\n' model procs_x_threads s/epoch samples/s test_acc allreduce_ms/step agree_ms/step
summary=""
for model in $models; do
    limit=""
    [ "$model" = cnn ] && limit="--limit $cnn_limit"
    r12="" r21=""
    for cfg in "1 2" "2 1" "2 2"; do
        set -- $cfg
        line=$(run "$model-$1x$2" "$1" "$2" "$model" $limit)
        if [ -z "$line" ]; then
            printf '%-5s %-16s failed: %s\n' "$model" "$1x$2" "$(tail -3 "$out/$model-$1x$2.err" | tr '\n' ' ')"
            continue
        fi
        ar=$(field "$line" allreduce_ms_per_step) ag=$(field "$line" agree_ms_per_step)
        printf '%-5s %-16s %10.3f %12.0f %9.4f %14s %12s\n' "$model" "$1 x $2" "$(field "$line" epoch_s_median)" \
            "$(field "$line" samples_per_s)" "$(field "$line" test_acc)" "${ar:--}" "${ag:--}"
        [ "$cfg" = "1 2" ] && r12=$line
        [ "$cfg" = "2 1" ] && r21=$line
    done
    if [ -n "$r12" ] && [ -n "$r21" ]; then
        summary="$summary$(awk -v m="$model" -v a="$(field "$r21" samples_per_s)" -v b="$(field "$r12" samples_per_s)" \
            -v x="$(field "$r21" test_acc)" -v y="$(field "$r12" test_acc)" 'BEGIN {
            d = 100 * (x - y); if (d < 0) d = -d;
            printf "%s: 2x1 / 1x2 samples/s = %.2f%s; |accuracy 2 ranks - 1 process| = %.2f points (target <= 0.3)\n",
                   m, a / b, m == "cnn" ? " (target >= 0.9)" : "", d }')
"
    fi
done
printf '%s' "$summary"
