#!/usr/bin/env bash
# fashion_cnn end to end: the README's training command (batch norm, dropout, augmentation) must
# reach 92.5% test accuracy on Fashion-MNIST within 15 minutes on this 2-core machine.
set -euo pipefail
bin=$1 min_accuracy=${2:-0.925} max_seconds=${3:-900}
source "$(dirname "$0")/common.sh"

"$bin" train --epochs 5 --optimizer adam --lr 0.002 --lr-schedule cosine:epochs=5 --augment flip --json | tee train.log
accuracy=$(json_field test_accuracy < train.log)
seconds=$(json_field seconds < train.log)
check "$accuracy >= $min_accuracy" "fashion_cnn test accuracy $accuracy >= $min_accuracy"
check "$seconds <= $max_seconds" "fashion_cnn trained in $seconds s <= $max_seconds s"
for f in fashion_cnn.cnnp.csv fashion_cnn.cnnp.svg; do
    test -s "$f" && echo "ok: $f written"
done
