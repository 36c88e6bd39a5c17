# tests/cli_lib.sh — check helpers shared by the shell tests of the `nabla`
# command line (test_cli.sh, test_train.sh, test_cnn.sh, test_gpt.sh). Sourced by them once they have set
# $nabla (the binary) and $tmp (a scratch directory); each ends by exiting 1
# when $failures is not 0.
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect CODE ARGS...: run nabla ARGS, check the exit code; output in $tmp/out, $tmp/err
expect() {
    want=$1
    shift
    "$nabla" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "nabla $*: exit $got, expected $want; stderr: $(cat "$tmp/err")"
}

# one_line_error ARGS...: after running nabla ARGS, stderr is one line starting "nabla"
one_line_error() {
    lines=$(wc -l <"$tmp/err")
    [ "$lines" -eq 1 ] || fail "nabla $*: $lines lines on stderr, expected 1: $(cat "$tmp/err")"
    grep -q '^nabla' "$tmp/err" || fail "nabla $*: stderr does not start with 'nabla': $(cat "$tmp/err")"
}

# usage_error ARGS...: exit 2 and one line on stderr starting "nabla"
usage_error() {
    expect 2 "$@"
    one_line_error "$@"
}
