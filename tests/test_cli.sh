#!/bin/sh
# test_cli.sh — the `nabla` command line from the outside: help and version,
# a short XOR run, and every kind of bad flag or value, each of which must
# exit 2 with exactly one line on stderr. Usage: sh test_cli.sh path/to/nabla
nabla=${1:?usage: test_cli.sh path/to/nabla}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"

# usage_error ARGS...: as cli_lib.sh's, and nothing on stdout either
usage_error() {
    expect 2 "$@"
    one_line_error "$@"
    [ ! -s "$tmp/out" ] || fail "nabla $*: wrote to stdout: $(head -1 "$tmp/out")"
}

# --- help and version
expect 0 --help
grep -q 'xor' "$tmp/out" || fail "--help does not list the xor command"
expect 0 --version
grep -q '^nabla [0-9][0-9]*\.[0-9][0-9]*\.[0-9]' "$tmp/out" || fail "--version printed: $(cat "$tmp/out")"
expect 0 help
expect 0 help xor
grep -q -- '--epochs' "$tmp/out" || fail "help xor does not describe --epochs"
expect 0 xor --help
grep -q -- '--hidden' "$tmp/out" || fail "xor --help does not describe --hidden"

# --- a short run: loss lines every 1000 epochs, four outputs
expect 0 xor --epochs 2000
[ ! -s "$tmp/err" ] || fail "xor --epochs 2000 wrote to stderr: $(cat "$tmp/err")"
[ "$(grep -c '^epoch' "$tmp/out")" -eq 3 ] || fail "xor --epochs 2000: expected loss at epochs 0, 1000, 2000"
[ "$(grep -c 'output [0-9]' "$tmp/out")" -eq 4 ] || fail "xor --epochs 2000: expected four outputs"
expect 0 xor --epochs 300 --lr 0.5 --hidden 3 --seed 42 --every 100
[ "$(grep -c '^epoch' "$tmp/out")" -eq 4 ] || fail "xor --every 100 over 300 epochs: expected 4 loss lines"
expect 0 xor --epochs=10 --lr=1e-2

# --- bad flags and values
usage_error xor --lr abc
grep -q "^nabla xor: --lr: 'abc' is not a number$" "$tmp/err" || fail "--lr abc message: $(cat "$tmp/err")"
usage_error xor --lr ''
usage_error xor --lr 0.1x
usage_error xor --lr nan
usage_error xor --lr inf
usage_error xor --lr -0.1
usage_error xor --lr 0
usage_error xor --epochs -5
usage_error xor --epochs 0
usage_error xor --epochs 1.5
usage_error xor --epochs 99999999999999999999999
usage_error xor --hidden 0
usage_error xor --hidden two
usage_error xor --seed -1
usage_error xor --every 0
usage_error xor --epochs
usage_error xor --bogus
usage_error xor -x
usage_error xor extra
usage_error frobnicate
usage_error --bogus
usage_error help frobnicate
usage_error

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all CLI checks passed"
