#!/usr/bin/env bash
# End to end: train LeNet-5 on Fashion-MNIST, evaluate, export the standalone library, link the
# plain-C classifier with `cc` alone and check it agrees with `eval`; plus the must-fail paths.
set -euo pipefail
bin=$1 source_dir=$2 epochs=${3:-5} min_accuracy=${4:-0.89}
data=/usr/share/datasets/fashion-mnist
source "$(dirname "$0")/common.sh"

"$bin" summary --json | json_field parameters | grep -qx 61706 && echo "ok: summary counts 61706 parameters"

"$bin" train --epochs "$epochs" --json | tee train.log
train_accuracy=$(json_field test_accuracy < train.log)
check "$train_accuracy >= $min_accuracy" "train --epochs $epochs: test accuracy $train_accuracy >= $min_accuracy"
for key in images_per_second epochs seconds; do json_field $key < train.log > /dev/null; done

eval_accuracy=$("$bin" eval --json | json_field test_accuracy)
check "abs($eval_accuracy - $train_accuracy) < 1e-9" "eval reproduces the test accuracy ($eval_accuracy)"

"$bin" bench --json > bench.log
check "$(json_field infer_ms_batch1 < bench.log) > 0 and $(json_field train_images_per_second < bench.log) > 0" \
      "bench reports infer_ms_batch1 and train_images_per_second"

"$bin" export --out lib --json
zcat "$data/t10k-images-idx3-ubyte.gz" > t10k-images
zcat "$data/t10k-labels-idx1-ubyte.gz" > t10k-labels
# Only the library, libc, libm, libpthread and libdl: a plain cc command line, no CMake.
cc -O2 "$source_dir/examples/lenet5/classify.c" -I lib lib/liblenet5.a -lpthread -ldl -lm -o classify
c_accuracy=$(./classify t10k-images t10k-labels | json_field test_accuracy)
# Preprocessing runs in float in both, in a different order: allow a handful of images to differ.
check "abs($c_accuracy - $eval_accuracy) <= 0.0005" "the C program's accuracy $c_accuracy matches eval"

# infer: raw float32 NCHW in, probabilities out; a file that is not whole images is refused.
/usr/bin/python3 -c "import numpy as np; np.random.default_rng(1).normal(size=(3, 1, 28, 28)).astype('<f4').tofile('x.f32')"
"$bin" infer --input x.f32 --output p.f32 --json | json_field output_shape | grep -q "10"
check "__import__('numpy').allclose(__import__('numpy').fromfile('p.f32', '<f4').reshape(3, 10).sum(1), 1, atol=1e-5)" \
      "infer writes 3 x 10 probabilities that sum to one"
head -c 3000 x.f32 > short.f32
if "$bin" infer --input short.f32 --output q.f32 2> err.txt; then echo "FAILED: partial image accepted"; exit 1; fi
grep -q "short.f32: 3000 bytes is not a whole number" err.txt && [ ! -e q.f32 ] && echo "ok: partial image: $(cat err.txt)"

# Must-fail: a truncated weights file and another model's file give a clear error, never a crash.
head -c 1000 lenet5.cnnp > truncated.cnnp
if "$bin" eval --weights truncated.cnnp 2> err.txt; then echo "FAILED: truncated file accepted"; exit 1; fi
grep -q "truncated.cnnp" err.txt && grep -qi "truncated" err.txt && echo "ok: truncated file: $(cat err.txt)"
if "$bin" eval --weights missing.cnnp 2> err.txt; then echo "FAILED: missing file accepted"; exit 1; fi
grep -q "missing.cnnp" err.txt && echo "ok: missing file: $(cat err.txt)"
echo "lenet5 end to end: all checks passed"
