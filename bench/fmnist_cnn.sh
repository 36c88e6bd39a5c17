#!/bin/sh
# bench/fmnist_cnn.sh — `nabla train --model cnn` (conv32-pool-conv64-pool-fc128-fc10,
# Adam 1e-3, batch 64) beside the PyTorch reference fmnist_cnn.py at its best
# settings (--blas-core auto --omp-passive), at 1 and 2 threads, in one run:
# seconds per epoch (training only), test accuracy, peak resident memory and
# the ratios nabla / PyTorch against issue 6's targets (time <= 0.6x, memory
# <= 0.33x, accuracy >= 90.5% after 3 epochs).
# To keep it short: nabla trains 3 epochs at 1 thread (s/epoch is their
# median; the accuracy is the 3-epoch figure) and 1 epoch at 2 threads;
# PyTorch trains 1 epoch per thread count (its 3-epoch accuracy is quoted from
# the reference's README, 90.85%, unless TORCH_EPOCHS=3 asks to measure it).
# Usage: bench/fmnist_cnn.sh [BUILD_DIR]   (TORCH_BENCH_DIR: the reference scripts'
# directory, default <repo>/../shared/bench/torch)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$here/$build" ;; esac
nabla="$build/nabla"
top=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || echo "$here")
torch_dir=${TORCH_BENCH_DIR:-$top/../shared/bench/torch}
torch_epochs=${TORCH_EPOCHS:-1}
[ -x "$nabla" ] || { echo "bench/fmnist_cnn: $nabla not built (make build)" >&2; exit 2; }
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

have_torch=1
if [ ! -f "$torch_dir/fmnist_cnn.py" ] || [ ! -x /usr/bin/python3 ]; then
    have_torch=0
    echo "bench/fmnist_cnn: PyTorch reference not found in $torch_dir (set TORCH_BENCH_DIR; needs python3-torch): nabla only"
fi

echo "Fashion-MNIST CNN, batch 64; nabla: 3 epochs at 1 thread, 1 at 2; PyTorch: $torch_epochs epoch(s) each;"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-8s %-8s %7s %10s %9s %9s\n' threads impl epochs s/epoch test_acc peak_MB
rows=""
for t in 1 2; do
    ep=1
    [ "$t" = 1 ] && ep=3
    n=$("$nabla" train --model cnn --epochs "$ep" --threads "$t" --bench --progress never \
        --out "$out/run$t" | grep '^RESULT')
    ns=$(field "$n" epoch_s_median); na=$(field "$n" test_acc); nm=$(field "$n" peak_rss_mb)
    printf '%-8s %-8s %7s %10.2f %9.4f %9.1f\n' "$t" nabla "$ep" "$ns" "$na" "$nm"
    [ "$have_torch" = 1 ] || continue
    p=$(/usr/bin/python3 "$torch_dir/fmnist_cnn.py" --threads "$t" --blas-core auto --omp-passive \
        --epochs "$torch_epochs" 2>/dev/null | grep '^RESULT')
    if [ -z "$p" ]; then
        rows="${rows}PyTorch at $t thread(s) failed (run $torch_dir/fmnist_cnn.py by hand)
"
        continue
    fi
    ps=$(field "$p" epoch_s); pa=$(field "$p" test_acc); pm=$(field "$p" peak_rss_mb)
    printf '%-8s %-8s %7s %10.2f %9.4f %9.1f\n' "$t" pytorch "$torch_epochs" "$ps" "$pa" "$pm"
    rows="$rows$(awk -v t="$t" -v a="$ns" -v b="$ps" -v c="$nm" -v d="$pm" \
        'BEGIN { printf "ratio at %s thread(s): time %.2fx PyTorch (target <= 0.60), memory %.2fx (target <= 0.33)", t, a/b, c/d }')
"
    if [ "$t" = 1 ]; then
        acc="nabla test accuracy after 3 epochs: $na (target >= 0.905); PyTorch"
        if [ "$torch_epochs" = 3 ]; then acc="$acc after 3 epochs: $pa"
        else acc="$acc after 3 epochs: 0.9085 (its README; not measured here, TORCH_EPOCHS=3 does)"; fi
        rows="$rows$acc
"
    fi
done
printf '%s' "$rows"
