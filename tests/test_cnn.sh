#!/bin/sh
# test_cnn.sh — `nabla train --model cnn...` from the outside: the grammar in
# --help, bad cnn specs and a cnn on flat CSV data (exit 2, one line), a cnn
# with shape= on CSV, and a few seconds on a Fashion-MNIST subset with batch
# norm (train, info, eval) when the package is installed; resuming is
# checked bit for bit in test_cli_cnn.c.
# Usage: sh test_cnn.sh path/to/nabla
nabla=${1:?usage: test_cnn.sh path/to/nabla}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"
# model_error ARGS...: a usage error about --model, on one line
model_error() {
    usage_error "$@"
    grep -q '^nabla train: --model: ' "$tmp/err" || fail "nabla $*: stderr: $(cat "$tmp/err")"
}

expect 0 train --help
for w in 'cnn[:LAYER' 'conv<N>' 'max<K>' 'avg<K>' gap bn 'drop<P>' 'fc<N>' 'shape=CxHxW'; do
    grep -qF -- "$w" "$tmp/out" || fail "train --help does not mention $w"
done

awk 'BEGIN { srand(5); print "a,b,c,d,y";
  for (i = 0; i < 200; i++) { k = i % 2; printf "%.3f,%.3f,%.3f,%.3f,%d\n", k + rand(), rand(), 2 * k + rand(), rand(), k } }' \
    >"$tmp/d.csv"
for spec in cnn:conv8x cnn:fc8,conv4 cnn:max2p3 cnn:drop1.5 cnn:act=swish cnn:shape=2x2x2x2 cnn:blur3; do
    model_error train --data "$tmp/d.csv" --model "$spec" --out "$tmp/bad"
done
model_error train --data "$tmp/d.csv" --model cnn --out "$tmp/bad"
grep -q 'shape=' "$tmp/err" || fail "cnn on CSV: the message does not suggest shape=: $(cat "$tmp/err")"
model_error train --data "$tmp/d.csv" --model cnn:shape=1x3x3 --out "$tmp/bad"
model_error train --data "$tmp/d.csv" --model cnn:max2,max2,shape=1x2x2 --out "$tmp/bad"
[ -e "$tmp/bad" ] && fail "a refused spec created its output directory"

expect 0 train --data "$tmp/d.csv" --model cnn:conv4,bn,fc8,shape=1x2x2 --epochs 3 --lr 0.01 --out "$tmp/csv"
grep -q 'shape=1x2x2' "$tmp/out" || fail "csv cnn: canonical spec not shown: $(head -1 "$tmp/out")"
expect 0 info "$tmp/csv/model.safetensors"
grep -q 'bn1.running_var' "$tmp/out" || fail "info: no batch-norm buffers: $(cat "$tmp/out")"
expect 0 eval "$tmp/csv/model.safetensors" --data "$tmp/d.csv"

fm=${NABLA_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -d "$fm" ]; then
    expect 0 train --model cnn:conv8,bn,max2,fc32,drop0.2 --limit 600 --epochs 1 --threads 2 --out "$tmp/fm"
    grep -q 'cnn:conv8,bn,max2,fc32,drop0.2,act=relu,shape=1x28x28' "$tmp/out" ||
        fail "fmnist cnn: spec line: $(head -1 "$tmp/out")"
    expect 0 info "$tmp/fm/model.safetensors"
    for w in 'conv1    conv2d 1 -> 8, 3x3' 'bn1      batchnorm2d 8' 'flatten' 'fc1      linear 1568 -> 32' \
        'fc2      linear 32 -> 10' 'bn1.running_mean' 'conv1.weight'; do
        grep -qF "$w" "$tmp/out" || fail "fmnist info: no '$w': $(cat "$tmp/out")"
    done
    expect 0 eval "$tmp/fm/model.safetensors" --limit 300
    acc=$(grep '^accuracy' "$tmp/out" | awk '{print $2}')
    awk -v a="$acc" 'BEGIN { exit !(a > 0.5) }' || fail "fmnist cnn: accuracy $acc after 600 samples"
else
    echo "skipped the Fashion-MNIST checks: $fm missing (apt-get install dataset-fashion-mnist)"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all cnn CLI checks passed"
