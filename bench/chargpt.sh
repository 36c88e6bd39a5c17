#!/bin/sh
# bench/chargpt.sh — the character GPT (4 layers, width 128, 4 heads, context
# 64, batch 32, AdamW 3e-4, GPL-3) beside the PyTorch reference chargpt.py at
# its best settings (--blas-core auto --omp-passive), at 1 and 2 threads:
# ms per training step (median after 5 warm-up steps; nabla's bench/chargpt),
# peak resident memory, the ratios nabla / PyTorch, and the validation loss
# both reach after 500 steps with equal settings (nabla: `nabla train --steps
# 500` on the same 90/10 split; PyTorch: chargpt.py's own 500-step run).
# Usage: bench/chargpt.sh [BUILD_DIR] [--no-loss]   (TORCH_BENCH_DIR overrides
# the reference's directory, default ../shared/bench/torch beside the repo).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$here/$build" ;; esac
[ $# -gt 0 ] && shift
loss=1
[ "${1:-}" = "--no-loss" ] && loss=0
nabla="$build/nabla"
bench="$build/bench/chargpt"
text=/usr/share/common-licenses/GPL-3
torch_dir=${TORCH_BENCH_DIR:-$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || echo "$here")/../shared/bench/torch}
[ -x "$bench" ] || { echo "bench/chargpt.sh: $bench not built (cmake --build $build --target bench)" >&2; exit 2; }
[ -x "$nabla" ] || { echo "bench/chargpt.sh: $nabla not built" >&2; exit 2; }
have_torch=0
[ -f "$torch_dir/chargpt.py" ] && [ -x /usr/bin/python3 ] && have_torch=1
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

echo "char GPT 4x128, 4 heads, ctx 64, batch 32; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-8s %-8s %10s %10s %10s %10s\n' threads impl ms/step cpu_ms peak_MB val@500
summary=""
for t in 1 2; do
    n=$("$bench" "$t" 50 "$text" | grep '^RESULT')
    nv="-"
    if [ "$loss" = 1 ]; then
        r=$("$nabla" train --text "$text" --model gpt:layers=4,heads=4,width=128,context=64 \
            --steps 500 --batch 32 --threads "$t" --seed 0 --bench --progress never --out "$out/run$t" | grep '^RESULT')
        nv=$(field "$r" val_loss)
    fi
    printf '%-8s %-8s %10.2f %10.2f %10.1f %10s\n' "$t" nabla "$(field "$n" ms_per_step)" "$(field "$n" cpu_ms_per_step)" \
        "$(field "$n" peak_rss_mb)" "$nv"
    if [ "$have_torch" = 1 ]; then
        steps=500
        [ "$loss" = 1 ] || steps=55
        p=$(/usr/bin/python3 "$torch_dir/chargpt.py" --threads "$t" --blas-core auto --omp-passive --steps "$steps" \
            --max-seconds 600 2>/dev/null | grep '^RESULT')
        pv=$(field "$p" val_loss)
        [ "$loss" = 1 ] || pv="-"
        printf '%-8s %-8s %10.2f %10s %10.1f %10s\n' "$t" pytorch "$(field "$p" ms_per_step)" - "$(field "$p" peak_rss_mb)" "$pv"
        summary="$summary$(awk -v t="$t" -v a="$(field "$n" ms_per_step)" -v b="$(field "$p" ms_per_step)" \
            -v c="$(field "$n" peak_rss_mb)" -v d="$(field "$p" peak_rss_mb)" -v e="$nv" -v f="$pv" \
            'BEGIN { printf "ratio at %s thread(s): time %.2fx PyTorch (target <= 0.70), memory %.2fx (target <= 0.50)", t, a/b, c/d;
                     if (e != "-" && f != "-") printf ", val loss %+.3f nats (target within 0.05)", e - f; }')
"
    else
        summary="${summary}PyTorch reference not found in $torch_dir (python3-torch, TORCH_BENCH_DIR); nabla only
"
    fi
done
printf '%s' "$summary"
