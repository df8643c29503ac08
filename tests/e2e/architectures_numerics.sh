#!/usr/bin/env bash
# Numerics of the CNN canon against PyTorch: for every architecture of examples/architectures/,
# random torchvision weights go through the importer (scripts/torchvision_to_cnnp.py) into
# bin/<model> infer, and its class probabilities must match torch's at batch 1 and batch 2.
#
#   architectures_numerics.sh BUILD [MODEL...]
#
# BUILD is the build folder holding bin/<model> (ninja -C BUILD <model>); MODEL... picks a
# subset (default: all 15). Per model the weights are written once (into the scratch folder,
# deleted right after the model: VGG-16's are 553 MB) and two inputs run: 1 and 2 images
# (the first image and the first two of one set: one float64 reference pass covers both).
# The check, per batch (tests/torch/architecture_reference.py): max |p_cnnc - p_torch| and
# max |log p_cnnc - log p_torch| are each <= 1e-4 of the largest |torch value|. Every model is
# checked even after a failure; the script fails at the end naming the models that failed.
# One `infer` run may take at most ARCH_INFER_TIMEOUT seconds (default 120; the slowest healthy
# run, VGG-16 at batch 2, takes about 5 s here), so that a pathologically slow pipeline fails
# instead of hanging the suite; a model that times out skips its larger batch.
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD [MODEL...]}" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
reference="$here/../torch/architecture_reference.py"
all_models=(alexnet vgg16 vgg16_bn googlenet inception_v3 resnet18 resnet34 resnet50 resnet101
            resnet152 preact_resnet18 squeezenet1_1 mobilenet_v2 unet resnet18_fashion)
# Models too slow for the suite run only when named, and the end of every run says so. None at
# present: U-Net was one until its transposed convolutions had a schedule template (one 224x224
# image took minutes; now about 3 s, and its whole check, both batches, about 30 s).
slow_models=()
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    for model in "${all_models[@]}"; do
        [[ " ${slow_models[*]} " == *" $model "* ]] || models+=("$model")
    done
fi
batches=(1 2)
infer_timeout=${ARCH_INFER_TIMEOUT:-120}
source "$here/common.sh"

missing=()
for model in "${models[@]}"; do
    if [[ " ${all_models[*]} " != *" $model "* ]]; then
        echo "FAILED: unknown model '$model'; known: ${all_models[*]}"
        exit 1
    fi
    [ -x "$build/bin/$model" ] || missing+=("$model")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "FAILED: not built: ${missing[*]} (ninja -C $build ${missing[*]})"
    exit 1
fi

failed=()
start=$SECONDS
for model in "${models[@]}"; do
    model_start=$SECONDS
    dir="$work/$model"
    if ! /usr/bin/python3 "$reference" prepare "$model" "$dir" --batches "${batches[@]}"; then
        failed+=("$model (reference)")
        rm -rf "$dir"
        continue
    fi
    for b in "${batches[@]}"; do
        rc=0
        timeout "$infer_timeout" "$build/bin/$model" infer --weights "$dir/$model.cnnp" \
            --input "$dir/x_b$b.f32" --output "$dir/y_b$b.f32" --json > "$dir/infer_b$b.log" 2>&1 ||
            rc=$?
        if [ $rc -ne 0 ]; then
            if [ $rc -eq 124 ]; then
                echo "FAILED: $model batch $b: bin/$model infer took more than $infer_timeout s"
                failed+=("$model/b$b (timeout)")
                break
            else
                echo "FAILED: $model batch $b: bin/$model infer failed (exit status $rc):"
                tail -n 20 "$dir/infer_b$b.log"
            fi
            failed+=("$model/b$b")
            continue
        fi
        images=$(json_field images < "$dir/infer_b$b.log")
        if [ "$images" != "$b" ]; then
            echo "FAILED: $model batch $b: infer reports $images images"
            failed+=("$model/b$b")
            continue
        fi
        /usr/bin/python3 "$reference" compare "$model" "$dir" "$b" "$dir/y_b$b.f32" ||
            failed+=("$model/b$b")
    done
    rm -rf "$dir"
    echo "$model: $((SECONDS - model_start)) s"
done

echo "${#models[@]} architectures in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: cnnc differs from PyTorch (or did not run) for: ${failed[*]}"
    exit 1
fi
echo "architectures numerics: cnnc matches PyTorch for ${models[*]} (batches ${batches[*]})"
for model in "${slow_models[@]}"; do
    [[ " ${models[*]} " == *" $model "* ]] ||
        echo "NOT CHECKED: $model (too slow for the suite; run: $0 $build $model)"
done
