#!/usr/bin/env bash
# End to end, the training features of `train` on a small slice of Fashion-MNIST (a minute or so
# on 2 cores): checkpoint + --resume give the uninterrupted run's weights bit for bit; transfer
# learning with frozen layers; early stopping; schedules, normalisation and augmentation; the
# history CSV and SVG; the normalisation reaching eval and the exported C library; bad options
# refused with the option named, never a crash.
set -euo pipefail
bin=$1 source_dir=$2
cnnp="/usr/bin/python3 $source_dir/tests/e2e/cnnp.py"
data=/usr/share/datasets/fashion-mnist
source "$(dirname "$0")/common.sh"
quick=(--limit 2000 --validation 1000)

# --- resume: 2 epochs straight == 1 epoch + resume to 2, tensor for tensor -----------------------
"$bin" train "${quick[@]}" --epochs 2 --weights straight.cnnp > straight.log
"$bin" train "${quick[@]}" --epochs 1 --weights resumed.cnnp > first.log
test -f resumed.cnnp.ckpt && echo "ok: the checkpoint is written next to the weights"
# Options left out come from the checkpoint.
"$bin" train --resume resumed.cnnp.ckpt --epochs 2 --weights resumed.cnnp --json > resumed.log
grep -q "resuming resumed.cnnp.ckpt after epoch 1 of 2" resumed.log
check "$(json_field epochs < resumed.log) == 2" "the resumed run reports 2 epochs"
$cnnp same straight.cnnp resumed.cnnp
echo "ok: 1 epoch + --resume to 2 gives the 2-epoch run's weights bit for bit"
cmp <(cut -d, -f1-6 straight.cnnp.csv) <(cut -d, -f1-6 resumed.cnnp.csv)
echo "ok: and the same history (times aside)"

# The same with state in every part of the checkpoint: Adam, a plateau schedule, early stopping,
# augmentation, per-layer decay and a frozen layer.
rich=(--optimizer adam --lr 0.002 --lr-schedule plateau:patience=0,factor=0.5 --early-stopping 3
      --augment flip,translate=2,rotate=10,noise=0.05 --layer-decay dense=0,0.001 --freeze conv2d
      --normalise center --seed 5)
"$bin" train "${quick[@]}" "${rich[@]}" --epochs 3 --weights rich.cnnp > rich.log
"$bin" train "${quick[@]}" "${rich[@]}" --epochs 2 --weights rich2.cnnp > rich2.log
"$bin" train --resume rich2.cnnp.ckpt "${rich[@]}" --epochs 3 --weights rich2.cnnp > rich3.log
$cnnp same rich.cnnp rich2.cnnp
echo "ok: the same with adam, plateau, early stopping, augmentation, layer decay and freezing"

# --- transfer learning: --init-from + --freeze ---------------------------------------------------
"$bin" train "${quick[@]}" --epochs 1 --init-from straight.cnnp --freeze conv2d --freeze conv2d_1 \
    --weights tuned.cnnp --json > tuned.log
grep -q "initialised from straight.cnnp: 10 of 10 parameters loaded" tuned.log
$cnnp compare straight.cnnp tuned.cnnp conv2d conv2d_1 dense dense_1 dense_2 > compare.txt
cat compare.txt
check "open('compare.txt').read().count('same') == 4 and open('compare.txt').read().count('changed') == 6" \
      "--freeze conv2d --freeze conv2d_1 keeps those 4 tensors, the other 6 are fine-tuned"

# --- early stopping, history, curves -------------------------------------------------------------
# A learning rate of 0 never improves on the first epoch: patience 2 stops after epoch 3.
"$bin" train "${quick[@]}" --epochs 6 --lr 0 --early-stopping 2 --weights stop.cnnp --json > stop.log
check "$(json_field stopped_early < stop.log) == True and $(json_field epochs < stop.log) == 3 and $(json_field best_epoch < stop.log) == 1" \
      "--early-stopping 2 stops after 3 epochs and keeps epoch 1"
check "len(open('stop.cnnp.csv').read().splitlines()) == 4" "the history CSV has a header and 3 epochs"
head -1 stop.cnnp.csv | grep -qx "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,learning_rate,seconds"
grep -q "<svg" stop.cnnp.svg && echo "ok: training curves drawn to stop.cnnp.svg"
for key in test_accuracy images_per_second epochs seconds validation_accuracy best_epoch stopped_early; do
    json_field $key < stop.log > /dev/null
done
echo "ok: train --json reports every key"

# --- normalisation reaches eval and the exported library -------------------------------------------
"$bin" train "${quick[@]}" --epochs 2 --normalise center --lr 0.05 --lr-schedule step:every=1,gamma=0.7 \
    --weights center.cnnp --json > center.log
mode=$($cnnp meta center.cnnp input_normalisation | json_field mode)
check "'$mode' == 'center'" "the weights file records the normalisation"
train_accuracy=$(json_field test_accuracy < center.log)
check "$train_accuracy > 0.3" "a 'center' model learns something: test accuracy $train_accuracy"
eval_accuracy=$("$bin" eval --weights center.cnnp --json | json_field test_accuracy)
check "abs($eval_accuracy - $train_accuracy) < 1e-9" "eval reproduces the accuracy of a 'center' model"
"$bin" export --weights center.cnnp --out lib > /dev/null
zcat "$data/t10k-images-idx3-ubyte.gz" > t10k-images
zcat "$data/t10k-labels-idx1-ubyte.gz" > t10k-labels
cc -O2 "$source_dir/examples/lenet5/classify.c" -I lib lib/liblenet5.a -lpthread -ldl -lm -o classify
c_accuracy=$(./classify t10k-images t10k-labels | json_field test_accuracy)
check "abs($c_accuracy - $eval_accuracy) <= 0.0005" "the exported library normalises as eval does ($c_accuracy)"

# --- must-fail: the option and the value named, exit status 1, no crash ---------------------------
must_fail() {  # must_fail "expected message part" train-arguments...
    local want=$1; shift
    set +e
    "$bin" train --limit 100 "$@" > /dev/null 2> err.txt
    local rc=$?
    set -e
    if [ $rc -ne 1 ]; then echo "FAILED: train $* exited with $rc"; cat err.txt; exit 1; fi
    if ! grep -qF -- "$want" err.txt; then echo "FAILED: train $*: no '$want' in: $(cat err.txt)"; exit 1; fi
    echo "ok: train $*: $(head -1 err.txt | sed 's/^[^:]*: //')"
}
must_fail '--lr-schedule "cosine:every=2"' --lr-schedule cosine:every=2
must_fail '--normalise "zscore"' --normalise zscore
must_fail '--augment "rotate=500"' --augment rotate=500
must_fail '--layer-decay "dense=0.1"' --layer-decay dense=0.1
must_fail "--freeze conv9: lenet5 has no layer 'conv9'" --freeze conv9
must_fail '--early-stopping must be >= 1' --early-stopping -1
must_fail '--min-delta needs --early-stopping' --min-delta 0.01
must_fail '--lr-decay was replaced by --lr-schedule' --lr-decay 0.5
must_fail 'missing.ckpt' --resume missing.ckpt
must_fail 'is a parameter file, not a training checkpoint' --resume straight.cnnp
must_fail '--lr 0.5 here, 0.02 in the checkpoint' --resume resumed.cnnp.ckpt --lr 0.5
must_fail '--init-from and --resume exclude each other' --resume resumed.cnnp.ckpt --init-from straight.cnnp
must_fail '--weights nowhere/x.cnnp: folder nowhere does not exist' --weights nowhere/x.cnnp
if "$bin" eval --weights resumed.cnnp.ckpt 2> err.txt; then echo "FAILED: a checkpoint accepted as weights"; exit 1; fi
grep -q "is a training checkpoint, not a parameter file" err.txt && echo "ok: eval refuses a checkpoint"
echo "training features end to end: all checks passed"
