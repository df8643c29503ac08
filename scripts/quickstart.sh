#!/usr/bin/env bash
# Quick start: install, build, train LeNet-5 on Fashion-MNIST, export its standalone library and
# classify the test set with the plain-C example linked against that library alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
mkdir -p "$root/build/quickstart" && cd "$root/build/quickstart"
"$root/build/bin/lenet5" train --epochs 5
"$root/build/bin/lenet5" export --out lenet5_lib
zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > t10k-images
zcat /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz > t10k-labels
cc -O2 "$root/examples/lenet5/classify.c" -I lenet5_lib lenet5_lib/liblenet5.a \
   -lpthread -ldl -lm -o classify
./classify t10k-images t10k-labels
