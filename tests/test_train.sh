#!/bin/sh
# test_train.sh — `nabla train/eval/predict/info` from the outside on small
# data: a synthetic CSV (3 named classes), every output file, bad flags and
# files (exit 2, one line), NaN detection (exit 1, last checkpoint kept),
# Ctrl-C (exit 130, checkpoint intact), the missing-dataset message, and a
# short real Fashion-MNIST run when the package is installed (else skipped).
# Usage: sh test_train.sh path/to/nabla
nabla=${1:?usage: test_train.sh path/to/nabla}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh" # fail, expect, usage_error

# 3 classes of points around different centres, 4 features, string labels
awk 'BEGIN { srand(7); print "a,b,c,d,kind";
  split("setosa versicolor virginica", name, " ");
  for (i = 0; i < 300; i++) { k = i % 3;
    printf "%.4f,%.4f,%.4f,%.4f,%s\n", 10*k + rand(), -5*k + rand(), rand()*3, 100 + 20*k + 5*rand(), name[k+1] } }' >"$tmp/d.csv"
head -1 "$tmp/d.csv" >"$tmp/feat.csv.hdr"

# --- help
expect 0 train --help
for flag in --data --target --model --epochs --batch --opt --lr --momentum --weight-decay --schedule \
    --warmup --clip --seed --rng --threads --out --resume --limit --val-split --profile 'act=' 'dropout='; do
    grep -q -- "$flag" "$tmp/out" || fail "train --help does not mention $flag"
done
expect 0 help eval
expect 0 predict --help
expect 0 info --help
expect 0 --help
for c in train eval predict info; do grep -q "^  $c " "$tmp/out" || fail "--help does not list $c"; done

# --- --profile: the per-op table on stderr, the run itself unchanged
expect 0 train --data "$tmp/d.csv" --target kind --model mlp:8 --epochs 1 --batch 32 --profile --out "$tmp/prof"
grep -q '^graph profile: [0-9]* forward passes' "$tmp/err" || fail "--profile printed no table: $(cat "$tmp/err")"
grep -q '^linear ' "$tmp/err" || fail "--profile table lacks the linear op: $(cat "$tmp/err")"
grep -q '^optimizer (outside the graph)' "$tmp/err" || fail "--profile lacks the optimizer line"

# --- a CSV run
expect 0 train --data "$tmp/d.csv" --target kind --model mlp:16,act=tanh --epochs 4 --batch 32 \
    --opt momentum --lr 0.05 --schedule cosine --warmup 5 --out "$tmp/run"
[ "$(grep -c '^epoch [1-4]/4' "$tmp/out")" -eq 4 ] || fail "expected 4 epoch lines: $(cat "$tmp/out")"
grep -q 'eval_acc' "$tmp/out" || fail "no eval accuracy in the log"
for f in model.safetensors metrics.csv curves.svg; do [ -s "$tmp/run/$f" ] || fail "no $f"; done
[ "$(head -1 "$tmp/run/metrics.csv")" = "epoch,train_loss,train_accuracy,eval_loss,eval_accuracy,seconds" ] ||
    fail "metrics.csv header: $(head -1 "$tmp/run/metrics.csv")"
[ "$(wc -l <"$tmp/run/metrics.csv")" -eq 5 ] || fail "metrics.csv should have 4 rows"
acc=$(tail -1 "$tmp/run/metrics.csv" | cut -d, -f5)
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9 && a <= 1) }' || fail "final eval accuracy $acc < 0.9"
grep -q '<svg' "$tmp/run/curves.svg" && grep -q '</svg>' "$tmp/run/curves.svg" || fail "curves.svg is not an SVG"
ls "$tmp/run" | grep -q tmp && fail "temporary files left in the output directory: $(ls "$tmp/run")"

expect 0 info "$tmp/run/model.safetensors"
grep -q 'mlp:16,act=tanh' "$tmp/out" || fail "info: no architecture"
grep -q 'fc1.weight.*\[16,4\]' "$tmp/out" || fail "info: fc1.weight [16,4] missing: $(cat "$tmp/out")"
grep -q 'fc2.weight.*\[3,16\]' "$tmp/out" || fail "info: fc2.weight [3,16] missing"
grep -q '^parameters  131' "$tmp/out" || fail "info: parameter count (4*16+16+16*3+3 = 131): $(grep parameters "$tmp/out")"
grep -q 'virginica' "$tmp/out" || fail "info: class names missing"

expect 0 eval "$tmp/run/model.safetensors" --data "$tmp/d.csv"
grep -q '^accuracy' "$tmp/out" || fail "eval: no accuracy"
grep -q 'versicolor' "$tmp/out" || fail "eval: confusion matrix without class names"
usage_error eval "$tmp/run/model.safetensors"   # trained on CSV: --data needed

cut -d, -f1-4 "$tmp/d.csv" | head -6 >"$tmp/feat.csv"
expect 0 predict "$tmp/run/model.safetensors" "$tmp/feat.csv"
[ "$(head -1 "$tmp/out")" = "index,class,name,probability" ] || fail "predict header: $(head -1 "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq 6 ] || fail "predict: expected 5 rows"
sed -n 2p "$tmp/out" | grep -q '^0,0,setosa,0\.' || fail "predict row 0: $(sed -n 2p "$tmp/out")"
sed -n 3p "$tmp/out" | grep -q '^1,1,versicolor,' || fail "predict row 1: $(sed -n 3p "$tmp/out")"
expect 0 predict "$tmp/run/model.safetensors" "$tmp/d.csv" --output "$tmp/pred.csv" --probs
[ "$(wc -l <"$tmp/pred.csv")" -eq 301 ] || fail "predict --output: expected 300 rows"
head -1 "$tmp/pred.csv" | grep -q ',p0,p1,p2$' || fail "predict --probs header"

# resume: already complete, then two more epochs
expect 0 train --resume "$tmp/run/model.safetensors" --epochs 4
grep -q 'nothing to do' "$tmp/out" || fail "resume at the end: $(cat "$tmp/out")"
expect 0 train --resume "$tmp/run/model.safetensors" --epochs 6
[ "$(wc -l <"$tmp/run/metrics.csv")" -eq 7 ] || fail "metrics.csv after resuming to 6 epochs"

# --- bad flags, values and files: one line, exit 2
usage_error train --bogus
usage_error train --epochs 0
usage_error train --epochs x
usage_error train --lr -1
usage_error train --batch 0
usage_error train --opt lbfgs
usage_error train --model mlp:abc
usage_error train --model cnnx
usage_error train --schedule warp
usage_error train --schedule step:gamma=2
usage_error train --progress sometimes
usage_error train --momentum 0.5 --opt adam --data "$tmp/d.csv"
usage_error train --data "$tmp/nope.csv"
usage_error train --data "$tmp/d.csv" --target nosuch --out "$tmp/x"
usage_error train --data "$tmp/run/curves.svg"
usage_error train --resume "$tmp/run/curves.svg"
usage_error train --resume "$tmp/nope.safetensors"
printf 'a,b\n1,x\n' >"$tmp/badval.csv"
usage_error train --data "$tmp/badval.csv" --out "$tmp/x"
usage_error eval
usage_error eval "$tmp/nope.safetensors"
usage_error eval "$tmp/d.csv"
usage_error info "$tmp/d.csv"
usage_error predict "$tmp/run/model.safetensors"
usage_error predict "$tmp/run/model.safetensors" "$tmp/nope.csv"
printf 'a,b\n1,2\n' >"$tmp/narrow.csv"
usage_error predict "$tmp/run/model.safetensors" "$tmp/narrow.csv"
head -c 100 "$tmp/run/model.safetensors" >"$tmp/trunc.safetensors"
usage_error info "$tmp/trunc.safetensors"
usage_error eval "$tmp/trunc.safetensors" --data "$tmp/d.csv"
usage_error train --data "$tmp/d.csv" --out /proc/nabla-cannot-write

# --- the default data set missing: name the package
NABLA_FMNIST_DIR="$tmp/nowhere" "$nabla" train >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "missing Fashion-MNIST: exit code"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'dataset-fashion-mnist' "$tmp/err" ||
    fail "missing Fashion-MNIST message: $(cat "$tmp/err")"

# --- non-finite loss: exit 1, message with the step, previous checkpoint kept
expect 0 train --data "$tmp/d.csv" --epochs 1 --opt sgd --out "$tmp/nan"
cp "$tmp/nan/model.safetensors" "$tmp/nan.before"
expect 1 train --resume "$tmp/nan/model.safetensors" --epochs 3 --lr 1e30 --out "$tmp/nan"
grep -q 'non-finite.*step' "$tmp/err" || fail "NaN message: $(cat "$tmp/err")"
cmp -s "$tmp/nan/model.safetensors" "$tmp/nan.before" || fail "the NaN run overwrote the last good checkpoint"

# --- Ctrl-C: stop at the next batch, exit 130, the last checkpoint intact
awk 'BEGIN { srand(3); print "x,y,z,t";
  for (i = 0; i < 4000; i++) { k = i % 2; printf "%.3f,%.3f,%.3f,%d\n", k + rand(), rand(), rand(), k } }' >"$tmp/big.csv"
"$nabla" train --data "$tmp/big.csv" --epochs 100000 --batch 1 --model mlp:64,64 --out "$tmp/int" \
    >"$tmp/int.out" 2>"$tmp/int.err" &
pid=$!
i=0
while [ ! -s "$tmp/int/metrics.csv" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid
rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT: exit $rc, expected 130: $(cat "$tmp/int.err")"
grep -q 'interrupted' "$tmp/int.err" || fail "SIGINT message: $(cat "$tmp/int.err")"
expect 0 info "$tmp/int/model.safetensors"
ls "$tmp/int" | grep -q tmp && fail "SIGINT left temporary files: $(ls "$tmp/int")"

# --- real Fashion-MNIST, a small subset (skipped without the package)
fm=${NABLA_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -d "$fm" ]; then
    expect 0 train --limit 2000 --epochs 1 --out "$tmp/fm"
    grep -q 'epoch 1/1' "$tmp/out" || fail "fmnist: no epoch line"
    expect 0 eval "$tmp/fm/model.safetensors" --limit 500
    grep -q 'Ankle boot' "$tmp/out" || fail "fmnist eval: no class names: $(cat "$tmp/out")"
    acc=$(grep '^accuracy' "$tmp/out" | awk '{print $2}')
    awk -v a="$acc" 'BEGIN { exit !(a > 0.6) }' || fail "fmnist: accuracy $acc after 2000 samples"
    for f in "$fm"/t10k-images-idx3-ubyte*; do img=$f; done
    expect 0 predict "$tmp/fm/model.safetensors" "$img" --output "$tmp/fm.csv"
    [ "$(wc -l <"$tmp/fm.csv")" -eq 10001 ] || fail "fmnist predict: expected 10000 rows"
else
    echo "skipped the Fashion-MNIST checks: $fm missing (apt-get install dataset-fashion-mnist)"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all train/eval/predict/info checks passed"
