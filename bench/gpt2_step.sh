#!/bin/sh
# bench/gpt2_step.sh — one training step of a GPT-2-small-shaped model (12
# layers, 12 heads, width 768, vocabulary 50257, batch 4, sequence 64, random
# init, AdamW) in nabla (bench/gpt2_step) beside the PyTorch reference
# gpt2_step.py at its best settings, at 1 and 2 threads: ms per step (median
# of the timed steps), the forward/backward/optimizer split, peak resident
# memory and the ratios nabla / PyTorch.
# Usage: bench/gpt2_step.sh [BUILD_DIR] [timed steps (5)]   (TORCH_BENCH_DIR
# overrides the reference's directory, default ../shared/bench/torch).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$here/$build" ;; esac
timed=${2:-5}
bench="$build/bench/gpt2_step"
torch_dir=${TORCH_BENCH_DIR:-$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || echo "$here")/../shared/bench/torch}
[ -x "$bench" ] || { echo "bench/gpt2_step.sh: $bench not built (cmake --build $build --target bench)" >&2; exit 2; }
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

echo "GPT-2 small shape, batch 4, seq 64, $timed timed steps; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-8s %-8s %10s %9s %9s %9s %10s\n' threads impl ms/step fwd_ms bwd_ms opt_ms peak_MB
summary=""
for t in 1 2; do
    n=$("$bench" "$t" "$timed" 2 | grep '^RESULT')
    printf '%-8s %-8s %10.0f %9.0f %9.0f %9.0f %10.0f\n' "$t" nabla "$(field "$n" ms_per_step)" "$(field "$n" fwd_ms)" \
        "$(field "$n" bwd_ms)" "$(field "$n" opt_ms)" "$(field "$n" peak_rss_mb)"
    if [ -f "$torch_dir/gpt2_step.py" ] && [ -x /usr/bin/python3 ]; then
        p=$(/usr/bin/python3 "$torch_dir/gpt2_step.py" --threads "$t" --blas-core auto --omp-passive --timed "$timed" \
            2>/dev/null | grep '^RESULT')
        printf '%-8s %-8s %10.0f %9.0f %9.0f %9.0f %10.0f\n' "$t" pytorch "$(field "$p" ms_per_step)" "$(field "$p" fwd_ms)" \
            "$(field "$p" bwd_ms)" "$(field "$p" opt_ms)" "$(field "$p" peak_rss_mb)"
        summary="$summary$(awk -v t="$t" -v a="$(field "$n" ms_per_step)" -v b="$(field "$p" ms_per_step)" \
            -v c="$(field "$n" peak_rss_mb)" -v d="$(field "$p" peak_rss_mb)" \
            'BEGIN { printf "ratio at %s thread(s): time %.2fx PyTorch (target <= 0.60), memory %.2fx (target <= 0.50)", t, a/b, c/d }')
"
    else
        summary="${summary}PyTorch reference not found in $torch_dir (python3-torch, TORCH_BENCH_DIR); nabla only
"
    fi
done
printf '%s' "$summary"
