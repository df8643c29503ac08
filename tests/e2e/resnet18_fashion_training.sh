#!/usr/bin/env bash
# ResNet-18 (28x28, examples/architectures/resnet18_fashion) trains through its generated
# backward passes: one step's loss, gradients and running statistics against PyTorch
# (tests/torch/gradient_reference.py), then a short run on Fashion-MNIST that must learn.
#
#   resnet18_fashion_training.sh BIN MIN_ACCURACY
#
# BIN is bin/resnet18_fashion. The run trains one epoch on 1,536 images (a full epoch takes
# over half an hour on 2 cores) and tests on 1,000; MIN_ACCURACY is the test accuracy it must reach
# (chance is 0.10), and the epoch's mean training loss must fall below 1.8 (it starts at ln 10 =
# 2.3). So early in training the result varies a lot with the seed: PyTorch on the same slice
# (SGD, momentum 0.9, batch 32, lr 0.01) reached 60% in eval mode; cnnc 38% with --seed 1 and
# 55% with --seed 2. With lr 0.05 both train, but the running statistics lag so far behind the
# fast-moving weights that eval mode gets 27% (PyTorch) and 21% (cnnc).
set -euo pipefail
bin=$(realpath "${1:?usage: $0 BIN MIN_ACCURACY}")
min_accuracy=${2:?usage: $0 BIN MIN_ACCURACY}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"

echo "== one training step against PyTorch (float64), batch 8"
/usr/bin/python3 "$here/../torch/gradient_reference.py" prepare resnet18_fashion ref --batch 8
"$bin" gradients --weights ref/resnet18_fashion.cnnp --input ref/x.f32 --labels ref/labels.i32 \
    --output ref/gradients.cnnp
/usr/bin/python3 "$here/../torch/gradient_reference.py" compare resnet18_fashion ref \
    ref/gradients.cnnp

echo "== bad labels are refused, naming the file and the byte offset"
printf '\x0b\x00\x00\x00' > bad.i32
head -c $((4 * 7)) ref/labels.i32 >> bad.i32
if "$bin" gradients --weights ref/resnet18_fashion.cnnp --input ref/x.f32 --labels bad.i32 \
    --output bad.cnnp 2> err.txt; then
    echo "FAILED: a label of 11 was accepted"; exit 1
fi
cat err.txt
grep -q "bad.i32: label 11 at index 0 (byte offset 0)" err.txt
check "True" "label 11 refused"

echo "== a short run on Fashion-MNIST"
"$bin" train --weights r18.cnnp --epochs 1 --limit 1536 --validation 256 --batch 32 \
    --lr 0.01 --seed 1 --test-limit 1000 --json | tee train.txt
loss=$(json_field loss < train.txt)
check "$loss < 1.8" "mean training loss $loss < 1.8 in the first epoch"
accuracy=$(json_field test_accuracy < train.txt)
check "$accuracy >= $min_accuracy" "test accuracy $accuracy >= $min_accuracy after 1,536 images"
