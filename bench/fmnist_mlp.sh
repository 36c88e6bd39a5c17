#!/bin/sh
# bench/fmnist_mlp.sh — the default `nabla train` (Fashion-MNIST MLP 784-256-128-10,
# Adam 1e-3, batch 64) beside the PyTorch reference fmnist_mlp.py at its best
# settings (--blas-core auto --omp-passive), at 1 and 2 threads, in one run:
# seconds per epoch (median, training only), samples/s, test accuracy after the
# same epochs, peak resident memory, and the ratios nabla / PyTorch.
# Usage: bench/fmnist_mlp.sh [BUILD_DIR] [--epochs N]   (TORCH_BENCH_DIR overrides
# the reference's directory, default ../shared/bench/torch beside the repo).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$here/$build" ;; esac
[ $# -gt 0 ] && shift
epochs=5
if [ "${1:-}" = "--epochs" ]; then epochs=${2:?--epochs N}; fi
nabla="$build/nabla"
torch_dir=${TORCH_BENCH_DIR:-$here/../shared/bench/torch}
[ -x "$nabla" ] || { echo "bench/fmnist_mlp: $nabla not built (make build)" >&2; exit 2; }
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT

# key=value from a RESULT line
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

echo "Fashion-MNIST MLP, $epochs epochs, batch 64; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-8s %-8s %10s %12s %9s %9s\n' threads impl s/epoch samples/s test_acc peak_MB
rows=""
for t in 1 2; do
    # nabla runs with OpenMP's default wait policy, its best on a quiet machine
    # (passive waiting costs it ~2x at 2 threads); PyTorch gets --omp-passive,
    # its best (its OpenMP threads otherwise spin against OpenBLAS's). On a
    # busy machine, export OMP_WAIT_POLICY=PASSIVE for both.
    n=$("$nabla" train --epochs "$epochs" --threads "$t" --bench --progress never --out "$out/run$t" | grep '^RESULT')
    if [ -f "$torch_dir/fmnist_mlp.py" ] && [ -x /usr/bin/python3 ]; then
        p=$(/usr/bin/python3 "$torch_dir/fmnist_mlp.py" --threads "$t" --blas-core auto --omp-passive \
            --epochs "$epochs" 2>/dev/null | grep '^RESULT')
    else
        p=""
    fi
    ns=$(field "$n" epoch_s_median); nr=$(field "$n" samples_per_s); na=$(field "$n" test_acc); nm=$(field "$n" peak_rss_mb)
    printf '%-8s %-8s %10.3f %12.0f %9.4f %9.1f\n' "$t" nabla "$ns" "$nr" "$na" "$nm"
    if [ -n "$p" ]; then
        ps=$(field "$p" epoch_s_median); pr=$(field "$p" samples_per_s); pa=$(field "$p" test_acc); pm=$(field "$p" peak_rss_mb)
        printf '%-8s %-8s %10.3f %12.0f %9.4f %9.1f\n' "$t" pytorch "$ps" "$pr" "$pa" "$pm"
        rows="$rows$(awk -v t="$t" -v a="$ns" -v b="$ps" -v c="$nm" -v d="$pm" \
            'BEGIN { printf "ratio at %s thread(s): time %.2fx PyTorch (target <= 0.40), memory %.2fx (target <= 0.25)", t, a/b, c/d }')
"
    else
        rows="${rows}PyTorch reference not found in $torch_dir (python3-torch, TORCH_BENCH_DIR)
"
    fi
done
printf '%s' "$rows"
