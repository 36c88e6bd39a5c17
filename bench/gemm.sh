#!/bin/sh
# Runs bench/gemm twice: with the environment as it is, and with
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset so OpenBLAS picks its own best
# kernels for this CPU. Usage: bench/gemm.sh [build dir (build)] [gemm args...]
set -e
dir=${1:-build}
[ $# -gt 0 ] && shift
exe="$dir/bench/gemm"
[ -x "$exe" ] || { echo "build it first: cmake --build $dir --target bench" >&2; exit 1; }
echo "=== environment as-is ==="
"$exe" "$@"
echo
echo "=== OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset ==="
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$exe" "$@"
