#!/bin/sh
# test_gpt.sh — `nabla train --text`, `generate`, `eval`/`info`/`predict` on a
# GPT checkpoint and `--steps` from the outside, on a tiny GPT (1 layer, width
# 16, context 8) and a small generated text: outputs, metrics per
# --eval-every, resume == straight run, deterministic sampling, bad flags and
# prompts (exit 2, one line), and --steps for an MLP on a --limit subset.
# Usage: sh test_gpt.sh path/to/nabla
nabla=${1:?usage: test_gpt.sh path/to/nabla}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"

awk 'BEGIN { split("the cat sat on a mat and the dog ran to the red barn", w, " ");
  srand(3); for (i = 0; i < 500; i++) { printf "%s%s", w[1 + int(rand() * 13)], (i % 12 == 11) ? ".\n" : " " } }' >"$tmp/t.txt"
gpt="gpt:layers=1,heads=2,width=16,context=8"
common="--text $tmp/t.txt --model $gpt --batch 8 --threads 1 --progress never"

# --- train exactly 20 steps, metrics every 10
expect 0 train $common --steps 20 --eval-every 10 --out "$tmp/run"
for f in model.safetensors metrics.csv curves.svg; do [ -s "$tmp/run/$f" ] || fail "no $f"; done
[ "$(cut -d, -f1 "$tmp/run/metrics.csv" | tr '\n' ' ')" = "epoch 10 20 " ] ||
    fail "metrics.csv rows should be at steps 10 and 20: $(cat "$tmp/run/metrics.csv")"
grep -q '^step 20/20' "$tmp/out" || fail "no step 20 line: $(cat "$tmp/out")"
first=$(sed -n 2p "$tmp/run/metrics.csv" | cut -d, -f4)
last=$(sed -n 3p "$tmp/run/metrics.csv" | cut -d, -f4)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a && b > 0) }' || fail "val loss did not fall: $first -> $last"
acc=$(sed -n 3p "$tmp/run/metrics.csv" | cut -d, -f5)
awk -v a="$acc" 'BEGIN { exit !(a > 0 && a <= 1) }' || fail "next-character accuracy $acc"

# --- info, eval (same validation loss as training reported), predict refuses
expect 0 info "$tmp/run/model.safetensors"
grep -q "model       $gpt,dropout=0" "$tmp/out" || fail "info: no spec: $(head -3 "$tmp/out")"
grep -q 'wte.weight .*\[[0-9]*,16\]' "$tmp/out" || fail "info: no wte.weight"
grep -q 'blocks.0.qkv.weight .*\[48,16\]' "$tmp/out" || fail "info: no blocks.0.qkv.weight [48,16]"
grep -q 'adamw, 20 steps' "$tmp/out" || fail "info: optimizer steps"
expect 0 eval "$tmp/run/model.safetensors"
grep -q "^loss      $(printf '%.4f' "$last")" "$tmp/out" || fail "eval loss differs from training's $last: $(cat "$tmp/out")"
usage_error predict "$tmp/run/model.safetensors" "$tmp/t.txt"

# --- resume to 30 steps == 30 steps straight
expect 0 train --resume "$tmp/run/model.safetensors" --steps 30
expect 0 train $common --steps 30 --eval-every 10 --out "$tmp/straight"
cmp -s "$tmp/run/metrics.csv" "$tmp/straight/metrics.csv" 2>/dev/null ||
    [ "$(cut -d, -f1-5 "$tmp/run/metrics.csv")" = "$(cut -d, -f1-5 "$tmp/straight/metrics.csv")" ] ||
    fail "resumed run differs: $(cat "$tmp/run/metrics.csv") vs $(cat "$tmp/straight/metrics.csv")"

# --- epochs: one metrics row per epoch
expect 0 train $common --epochs 2 --out "$tmp/ep"
[ "$(cut -d, -f1 "$tmp/ep/metrics.csv" | tr '\n' ' ')" = "epoch 1 2 " ] || fail "epoch rows: $(cat "$tmp/ep/metrics.csv")"

# --- generate: deterministic per seed, prompt first, N characters
m="$tmp/run/model.safetensors"
expect 0 generate "$m" --prompt "the cat" --tokens 40 --seed 5 --top-k 5
cp "$tmp/out" "$tmp/g1"
expect 0 generate "$m" --prompt "the cat" --tokens 40 --seed 5 --top-k 5
cmp -s "$tmp/out" "$tmp/g1" || fail "same seed, different text"
[ "$(head -c 7 "$tmp/g1")" = "the cat" ] || fail "output does not start with the prompt"
[ "$(wc -c <"$tmp/g1")" -eq 48 ] || fail "expected 7 + 40 characters + newline, got $(wc -c <"$tmp/g1")"
tr -d 'a-z .\n' <"$tmp/g1" | grep -q . && fail "characters outside the vocabulary: $(cat "$tmp/g1")"
expect 0 generate "$m" --prompt "the dog ran to the red mat and the cat" --tokens 10 --temperature 0
cp "$tmp/out" "$tmp/g2"
expect 0 generate "$m" --prompt "the dog ran to the red mat and the cat" --tokens 10 --temperature 0 --seed 9
cmp -s "$tmp/out" "$tmp/g2" || fail "temperature 0 depends on the seed"

usage_error generate "$m" --prompt "the CAT"
grep -q "vocabulary" "$tmp/err" || fail "unknown prompt character: $(cat "$tmp/err")"
usage_error generate "$m" --tokens abc
usage_error generate "$m" --temperature -1
usage_error generate "$m" --top-k -2
usage_error generate "$m" --bogus
usage_error generate
usage_error generate "$tmp/nonexistent.safetensors"
usage_error generate "$tmp/t.txt"

# --- bad training flags and text
usage_error train $common --steps 0
usage_error train $common --steps 5 --epochs 2
usage_error train --text "$tmp/t.txt" --model gpt:heads=3,width=16
usage_error train --text "$tmp/t.txt" --model gpt:layers=0
usage_error train --text "$tmp/t.txt" --model gpt:depth=2
usage_error train --text "$tmp/t.txt" --model mlp:8
usage_error train --text "$tmp/nonexistent.txt" --model $gpt
usage_error train --model $gpt --data "$tmp/t.txt" --text "$tmp/t.txt"
printf 'tiny text' >"$tmp/short.txt"
usage_error train --text "$tmp/short.txt" --model $gpt --out "$tmp/short"
grep -q "too few" "$tmp/err" || fail "short text: $(cat "$tmp/err")"

# --- --steps for a classifier on a --limit subset: 100 samples, batch 16 = 7 steps per epoch
awk 'BEGIN { srand(5); print "a,b,c,y"; for (i = 0; i < 200; i++) { k = i % 2;
  printf "%.3f,%.3f,%.3f,%d\n", 3*k + rand(), rand(), -2*k + rand(), k } }' >"$tmp/d.csv"
expect 0 train --data "$tmp/d.csv" --model mlp:8 --steps 10 --batch 16 --limit 100 --threads 1 --out "$tmp/mlp"
grep -q '^epoch 2/2' "$tmp/out" || fail "--steps 10 at 7 steps per epoch should end in epoch 2: $(cat "$tmp/out")"
expect 0 info "$tmp/mlp/model.safetensors"
grep -q 'adam, 10 steps' "$tmp/out" || fail "classifier --steps 10: $(grep optimizer "$tmp/out")"
usage_error train --data "$tmp/d.csv" --model mlp:8 --steps 10 --eval-every 5 --out "$tmp/mlp2"

[ "$failures" -eq 0 ] || exit 1
echo "test_gpt.sh: all checks passed"
