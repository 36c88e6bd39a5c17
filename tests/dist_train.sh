#!/bin/sh
# dist_train.sh — `mpirun -np N nabla train` from the outside (issue 7): the
# same final weights and optimizer state as one process with the same global
# batch (N = 1, 2, 3; uneven splits, a last batch that leaves a rank empty, a
# global batch smaller than N), resuming a 2-rank checkpoint on 1 process and
# the reverse, and start-up faults (different data, different flags, one rank
# failing alone) that must stop the job with a message, never hang.
# Usage: sh dist_train.sh GROUP NABLA COMPARE MPIRUN [MPIRUN_ARGS...]
#   GROUP: equal | resume | faults
set -u
group=${1:?usage: dist_train.sh GROUP NABLA COMPARE MPIRUN...}
nabla=${2:?}
compare=${3:?}
shift 3
[ $# -gt 0 ] || { echo "dist_train.sh: no mpirun given"; exit 2; }
tmp=$(mktemp -d) || exit 1
[ -n "${KEEP_TMP:-}" ] && echo "keeping $tmp" || trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# 3 classes of overlapping points (so training does not stop improving at once)
awk 'BEGIN { srand(11); print "a,b,c,d,kind";
  for (i = 0; i < 300; i++) { k = i % 3;
    printf "%.4f,%.4f,%.4f,%.4f,c%d\n", 2*k + 3*rand(), -k + 3*rand(), rand()*3, 10 + 2*k + 5*rand(), k } }' >"$tmp/d.csv"

# 240 training rows after the split, 202 with --limit: 8 batches of 25 and a
# last one of 2 — on 3 ranks that is 1, 1 and 0 rows.
common="--data $tmp/d.csv --target kind --model mlp:12,8 --threads 1 --progress never --limit 202 --batch 25"

same() { # A B: checkpoints within 1e-5 relative
    "$compare" "$tmp/$1/model.safetensors" "$tmp/$2/model.safetensors" 1e-5 >"$tmp/cmp.out" 2>&1 ||
        fail "$1 vs $2: $(cat "$tmp/cmp.out")"
    echo "$1 vs $2: $(cat "$tmp/cmp.out")"
}

launch() { # OUT NP [train flags...]: plain process for NP=0, else mpirun -np NP
    out=$1 np=$2
    shift 2
    if [ "$np" -eq 0 ]; then
        "$nabla" train $common --out "$tmp/$out" "$@" >"$tmp/$out.log" 2>"$tmp/$out.err"
    else
        $MPIRUN_CMD -np "$np" "$nabla" train $common --out "$tmp/$out" "$@" >"$tmp/$out.log" 2>"$tmp/$out.err"
    fi
    rc=$?
    [ $rc -eq 0 ] || fail "$out (np $np): exit $rc: $(cat "$tmp/$out.err")"
    return $rc
}

MPIRUN_CMD="$*"

case "$group" in
equal)
    launch one 0 --epochs 3 --opt adam --lr 0.01
    for np in 1 2 3; do
        launch np$np "$np" --epochs 3 --opt adam --lr 0.01 && same one np$np
        # rank 0 alone prints
        n=$(grep -c '^training ' "$tmp/np$np.log")
        [ "$n" -eq 1 ] || fail "np $np: $n 'training' lines, expected 1 (rank 0 only): $(cat "$tmp/np$np.log")"
        cmp -s "$tmp/one/metrics.csv" "$tmp/np$np/metrics.csv" ||
            awk -F, 'NR == FNR { l[FNR] = $4; a[FNR] = $5; next }
                FNR > 1 && (($4 - l[FNR]) > 1e-4 || (l[FNR] - $4) > 1e-4 || $5 != a[FNR]) { bad = 1 }
                END { exit bad }' "$tmp/one/metrics.csv" "$tmp/np$np/metrics.csv" ||
            fail "np $np: evaluation differs from one process: $(cat "$tmp/np$np/metrics.csv")"
    done
    [ -e "$tmp/np2/model.safetensors" ] && [ "$(ls "$tmp/np2" | wc -l)" -eq 3 ] ||
        fail "np 2: expected exactly model.safetensors, metrics.csv, curves.svg: $(ls "$tmp/np2")"
    # a global batch smaller than the ranks: every step leaves one rank empty
    launch small1 0 --epochs 1 --batch 2 --limit 21 --opt momentum --lr 0.05
    launch small3 3 --epochs 1 --batch 2 --limit 21 --opt momentum --lr 0.05 && same small1 small3
    ;;
syncbn)
    # --sync-bn: a CNN with batch norm on 2 and 3 ranks (25 rows: 13+12, 9+8+8)
    # (bn first: a bias just before bn gets a zero gradient, pure rounding noise)
    # equals one process on the whole batch; per-rank statistics do not.
    # 200 rows: no short last batch (a rank without rows cannot join the sums).
    bn="--model cnn:bn,conv4k1,fc8,shape=1x2x2 --limit 200 --epochs 2 --opt momentum --lr 0.05"
    launch bn1 0 $bn
    launch bn1s 0 $bn --sync-bn && same bn1 bn1s
    for np in 2 3; do
        launch bnsync$np "$np" $bn --sync-bn && same bn1 bnsync$np
    done
    launch bnrank2 2 $bn
    "$compare" "$tmp/bn1/model.safetensors" "$tmp/bnrank2/model.safetensors" 1e-5 >/dev/null 2>&1 &&
        fail "per-rank batch norm on 2 ranks equals one process: the check above cannot fail"
    # a batch that leaves a rank empty is refused with --sync-bn
    $MPIRUN_CMD -np 3 "$nabla" train $common --model cnn:bn,fc8,shape=1x2x2 --sync-bn --out "$tmp/bnbad" \
        >"$tmp/bnbad.log" 2>&1 && fail "--sync-bn with an empty rank was accepted"
    grep -q "sync-bn needs rows for every rank" "$tmp/bnbad.log" ||
        fail "--sync-bn with an empty rank: $(cat "$tmp/bnbad.log")"
    ;;
resume)
    launch full 0 --epochs 3 --opt adam --lr 0.01 --schedule step:every=1,gamma=0.5
    launch part 2 --epochs 2 --opt adam --lr 0.01 --schedule step:every=1,gamma=0.5
    "$nabla" train --resume "$tmp/part/model.safetensors" --epochs 3 --threads 1 >"$tmp/res.log" 2>&1 ||
        fail "resuming the 2-rank checkpoint on one process: $(cat "$tmp/res.log")"
    same full part
    grep -q '^resuming from' "$tmp/res.log" || fail "no 'resuming from' line: $(cat "$tmp/res.log")"
    # and a one-process checkpoint on 3 ranks
    launch part1 0 --epochs 2 --opt adam --lr 0.01 --schedule step:every=1,gamma=0.5
    $MPIRUN_CMD -np 3 "$nabla" train --resume "$tmp/part1/model.safetensors" --epochs 3 --threads 1 \
        --progress never >"$tmp/res3.log" 2>&1 || fail "resuming on 3 ranks: $(cat "$tmp/res3.log")"
    same full part1
    ;;
faults)
    # rank 1 reads a file that differs in one value
    mkdir -p "$tmp/r0" "$tmp/r1" "$tmp/r2"
    cp "$tmp/d.csv" "$tmp/r0/d.csv"
    cp "$tmp/d.csv" "$tmp/r2/d.csv"
    awk -F, 'NR == 50 { $1 = $1 + 1 } { print }' OFS=, "$tmp/d.csv" >"$tmp/r1/d.csv"
    cat >"$tmp/per_rank.sh" <<EOF
#!/bin/sh
exec "$nabla" train --data "$tmp/r\${OMPI_COMM_WORLD_RANK:-0}/d.csv" "\$@"
EOF
    chmod +x "$tmp/per_rank.sh"
    fault() { # NAME REGEX NP COMMAND...: must fail, with REGEX on stderr, quickly
        name=$1 regex=$2 np=$3
        shift 3
        start=$(date +%s)
        $MPIRUN_CMD -np "$np" "$@" >"$tmp/$name.log" 2>&1
        rc=$?
        secs=$(($(date +%s) - start))
        echo "$name: exit $rc after ${secs}s"
        [ $rc -ne 0 ] || fail "$name: exit 0"
        grep -Eq "$regex" "$tmp/$name.log" || fail "$name: no /$regex/ in: $(cat "$tmp/$name.log")"
        [ "$secs" -le 20 ] || fail "$name: took ${secs}s"
        [ ! -e "$tmp/f_$name/model.safetensors" ] || fail "$name: a checkpoint was written"
    }
    fault data 'rank [0-9]: data differs: rank 1 has [0-9a-f]+ but rank 0 has' 3 \
        "$tmp/per_rank.sh" --target kind --model mlp:8 --threads 1 --epochs 1 --out "$tmp/f_data"
    cat >"$tmp/per_rank_lr.sh" <<EOF
#!/bin/sh
exec "$nabla" train --lr "0.0\${OMPI_COMM_WORLD_RANK:-0}1" "\$@"
EOF
    chmod +x "$tmp/per_rank_lr.sh"
    fault options 'rank [0-9]: training configuration differs: rank 1 has' 2 \
        "$tmp/per_rank_lr.sh" $common --epochs 1 --out "$tmp/f_options"
    # rank 2 cannot read its data at all: it stops the job itself
    rm "$tmp/r2/d.csv"
    fault alone 'rank 2: stopping all ranks: this rank failed' 3 \
        "$tmp/per_rank.sh" --target kind --model mlp:8 --threads 1 --epochs 1 --out "$tmp/f_alone"
    grep -q "r2/d.csv" "$tmp/alone.log" || fail "alone: the failing rank's own message is missing: $(cat "$tmp/alone.log")"
    ;;
*)
    echo "dist_train.sh: unknown group $group"
    exit 2
    ;;
esac
[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
