#!/usr/bin/env bash
# Exported standalone libraries end to end (about a minute on 2 cores):
#   - LeNet-5 (briefly trained): embedded and external weights, fixed and variable batch, three
#     x86 variants in one library; each agrees with `lenet5 infer`; the archive needs nothing but
#     libc, libm, libpthread and libdl (nm), and links with a plain cc command line; the C and C++
#     examples build through CMake's find_package; every misuse and every bad weights file
#     (missing, truncated, corrupted, another model's, another version's) gets its error code and
#     a message naming the file and byte.
#   - Cross-compilation: arm-64-linux and wasm-32-wasmrt libraries hold only objects of that
#     architecture (file) and define the C API (llvm-nm); a CUDA library links the same way and
#     agrees with `infer` where a GPU exists; other GPU APIs and unknown targets are refused.
#   - ResNet-18 and MobileNet-v2 with random torchvision weights: the library agrees with
#     `<model> infer` and with PyTorch.
#
#   library_export.sh BUILD SOURCE_DIR
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD SOURCE_DIR}" && pwd)
source_dir=$(cd "${2:?usage: $0 BUILD SOURCE_DIR}" && pwd)
here="$source_dir/tests/e2e"
source "$here/common.sh"
lenet="$build/bin/lenet5"
py=/usr/bin/python3

# The checker (library_check.c) linked against DIR/lib<model>.a with a plain cc command line.
link_check() {
    cc -O2 -Wall -Wextra -Werror -DMODEL="$2" -DMODEL_UPPER="${2^^}" -I "$1" \
        "$here/library_check.c" "$1/lib$2.a" -lpthread -ldl -lm -o "$1/check"
}

# Fails unless max |a - b| <= 1e-5 * max |b| over two float32 files.
same_outputs() {
    check "(lambda a, b: float(abs(a - b).max()) <= 1e-5 * float(abs(b).max()))(__import__('numpy').fromfile('$1', '<f4'), __import__('numpy').fromfile('$2', '<f4'))" "$3"
}

# Runs `<model> infer` on what the library computes from x: (x - mean) / std with the header's
# normalisation (bytes 40 and 44 of the weights file).
normalised_input() {
    $py -c "
import numpy as np
mean, std = np.fromfile('$1', '<f4', count=2, offset=40)
((np.fromfile('$2', '<f4') - mean) / std).astype('<f4').tofile('$3')"
}

# Undefined symbols of an archive that none of its members defines must all come from libc,
# libm, libpthread or libdl. glibc's -lc (the linker script libc.so) includes the dynamic loader,
# which defines __tls_get_addr for the thread-local error text of position-independent code.
check_dependencies() {
    local lib=$1 libdir loader
    libdir=$(dirname "$(realpath "$(cc -print-file-name=libc.so.6)")")
    loader=$(sed -n 's/.*AS_NEEDED *( *\([^ )]*\).*/\1/p' "$(cc -print-file-name=libc.so)")
    nm -g --defined-only "$lib" 2> /dev/null | awk 'NF == 3 {print $3}' | sort -u > defined.txt
    nm -g --undefined-only "$lib" 2> /dev/null | awk 'NF == 2 && ($1 == "U" || $1 == "w") {print $2}' |
        sort -u > undefined.txt
    for so in "$libdir/libc.so.6" "$libdir/libm.so.6" "$libdir/libpthread.so.0" "$libdir/libdl.so.2" "$loader"; do
        nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//'
    done | sort -u > system.txt
    comm -23 undefined.txt defined.txt | comm -23 - system.txt > foreign.txt
    if [ -s foreign.txt ]; then
        echo "FAILED: $lib needs symbols outside libc/libm/libpthread/libdl:"
        cat foreign.txt
        exit 1
    fi
    echo "ok: $lib: $(comm -23 undefined.txt defined.txt | wc -l) undefined symbols, all from libc, libm, libpthread, libdl"
}

# Every member of an archive is an object of the architecture `file` calls $2.
check_architecture() {
    rm -rf members && mkdir members
    (cd members && ar x "$1")
    local wrong
    wrong=$(file members/* | grep -v "$2" || true)
    [ -z "$wrong" ] || { echo "FAILED: $1 holds objects not for $2:"; echo "$wrong"; exit 1; }
    echo "ok: $1: $(ls members | wc -l) members, all $2"
}

# --- LeNet-5 ---------------------------------------------------------------------------------------
"$lenet" train --epochs 1 --limit 2000 --test-limit 500 --weights lenet5.cnnp > /dev/null
$py -c "import numpy as np; np.random.default_rng(3).uniform(size=(4, 1, 28, 28)).astype('<f4').tofile('x4.f32')"

"$lenet" export --weights lenet5.cnnp --out ext --external-weights --json > ext.json
normalised_input ext/lenet5.weights x4.f32 x4_normalised.f32
"$lenet" infer --weights lenet5.cnnp --input x4_normalised.f32 --output infer4.f32 > /dev/null

"$lenet" export --weights lenet5.cnnp --out host --json > host.json
for f in liblenet5.a lenet5.h lenet5-config.cmake; do [ -s "host/$f" ] || { echo "FAILED: no host/$f"; exit 1; }; done
[ ! -e host/lenet5.weights ] && echo "ok: embedded export writes lib, header and CMake config, no weights file"
check_dependencies host/liblenet5.a
link_check host lenet5
host/check infer - x4.f32 lib4.f32 4 > /dev/null
same_outputs lib4.f32 infer4.f32 "embedded weights, batch 4: the library agrees with lenet5 infer"
host/check misuse -
host/check memory -
host/check threads -

link_check ext lenet5
ext/check infer ext/lenet5.weights x4.f32 ext4.f32 4 > /dev/null
same_outputs ext4.f32 infer4.f32 "external weights: the library agrees with lenet5 infer"
check "$(json_field weights_bytes < ext.json) == $(grep -o 'LENET5_WEIGHTS_BYTES [0-9]*' ext/lenet5.h | cut -d' ' -f2)" \
      "the weights file is LENET5_WEIGHTS_BYTES long"
check "$(json_field library_bytes < ext.json) + 200000 < $(json_field library_bytes < host.json)" \
      "embedding adds the weights to the library ($(json_field library_bytes < ext.json) -> $(json_field library_bytes < host.json) bytes)"

# Bad weights files: each refused at create with the error code for weights and a message that
# names the file and, where one is at fault, the byte.
expect_weights_error() {  # FILE PATTERN WHAT
    local rc=0
    ext/check create "$1" > err.txt || rc=$?
    [ $rc -eq 2 ] && grep -q "$2" err.txt ||
        { echo "FAILED: $3: exit $rc, message: $(cat err.txt)"; exit 1; }
    echo "ok: $3: $(cat err.txt)"
}
$py - <<'EOF'
import struct
w = bytearray(open("ext/lenet5.weights", "rb").read())
open("truncated.weights", "wb").write(w[:1000])
open("long.weights", "wb").write(w + b"\0" * 4)
bad = bytearray(w); bad[5000] ^= 1; open("corrupted.weights", "wb").write(bad)
other = bytearray(w); other[48:54] = b"lenet6"; open("other_model.weights", "wb").write(other)
# Another version of lenet5: another fingerprint, with a checksum that matches it.
def checksum(data):
    h, m = 0xcbf29ce484222325, (1 << 64) - 1
    whole = len(data) // 8 * 8
    for (word,) in struct.iter_unpack("<Q", bytes(data[:whole])):
        h = ((h ^ word) * 0x100000001b3) & m
        h ^= h >> 29
    for byte in data[whole:]:
        h = ((h ^ byte) * 0x100000001b3) & m
    return h
version = bytearray(w); version[32] ^= 0xff
version[24:32] = struct.pack("<Q", checksum(version[32:]))
open("other_version.weights", "wb").write(version)
EOF
expect_weights_error missing.weights "cannot open weights file 'missing.weights'" "a missing file"
expect_weights_error lenet5.cnnp "byte 0: not a cnnc weights file" "a parameter file instead of a weights file"
expect_weights_error truncated.weights "1000 bytes, but the model's weights are" "a truncated file"
expect_weights_error long.weights "another version" "a file with bytes appended"
expect_weights_error corrupted.weights "byte 24: checksum mismatch" "one flipped bit"
expect_weights_error other_model.weights "byte 48: weights of another model ('lenet6')" "another model's weights"
expect_weights_error other_version.weights "byte 32: exported from another version" "another version's weights"
ext/check misuse ext/lenet5.weights | tail -1

# A fixed batch: the same numbers, and other batches refused (check misuse).
"$lenet" export --weights lenet5.cnnp --out fixed4 --batch 4 > /dev/null
grep -q "#define LENET5_FIXED_BATCH 4" fixed4/lenet5.h
link_check fixed4 lenet5
fixed4/check infer - x4.f32 fixed4.f32 4 > /dev/null
same_outputs fixed4.f32 infer4.f32 "fixed batch 4: the library agrees with lenet5 infer"
fixed4/check misuse - | grep "fixed batch"
fixed4/check memory - | tail -1

# Three x86 variants in one library; the best this CPU runs is picked.
targets=x86-64-linux,x86-64-linux-avx2-fma,x86-64-linux-avx2-avx512_skylake-fma
"$lenet" export --weights lenet5.cnnp --out multi --target "$targets" > /dev/null
for t in ${targets//,/ }; do grep -q "Targets: .*$t" multi/lenet5.h || { echo "FAILED: $t not in multi/lenet5.h"; exit 1; }; done
check_dependencies multi/liblenet5.a
link_check multi lenet5
multi/check infer - x4.f32 multi4.f32 4 > multi.json
same_outputs multi4.f32 infer4.f32 "multi-target library (variant $(json_field target < multi.json)) agrees with lenet5 infer"
expected=x86-64-linux
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && expected=x86-64-linux-avx2-fma
grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && expected=x86-64-linux-avx2-avx512_skylake-fma
check "'$(json_field target < multi.json)' == '$expected'" "this CPU runs the variant $expected"

# Cross-compiled libraries: objects of the target's architecture, the C API defined.
"$lenet" export --weights lenet5.cnnp --out arm64 --target arm-64-linux > /dev/null
check_architecture "$work/arm64/liblenet5.a" "ARM aarch64"
"$lenet" export --weights lenet5.cnnp --out wasm --target wasm-32-wasmrt --external-weights > /dev/null
check_architecture "$work/wasm/liblenet5.a" "WebAssembly"
for dir in arm64 wasm; do
    llvm-nm-14 --defined-only "$dir/liblenet5.a" > "$dir/symbols.txt" 2> /dev/null
    for fn in lenet5_create lenet5_run lenet5_error lenet5_destroy lenet5_context_bytes; do
        grep -q " T $fn$" "$dir/symbols.txt" ||
            { echo "FAILED: $dir/liblenet5.a does not define $fn"; exit 1; }
    done
done
echo "ok: the arm64 and wasm libraries define the C API"

# A CUDA library: the kernels carry PTX and run on the GPU (the CUDA schedule templates); the host
# side is the same plain C, and Halide's CUDA runtime opens libcuda with dlopen when a context
# first runs: the archive still needs only libc, libm, libpthread and libdl. Where a CUDA device
# exists it must agree with lenet5 infer; elsewhere a run must fail with the library's error code
# and a message, not crash.
"$lenet" export --weights lenet5.cnnp --out cuda --target host-cuda > /dev/null
grep -q "Targets: .*cuda" cuda/lenet5.h || { echo "FAILED: cuda/lenet5.h names no CUDA target"; exit 1; }
check_dependencies cuda/liblenet5.a
link_check cuda lenet5
cuda_status=0
cuda/check infer - x4.f32 cuda4.f32 4 > cuda.json 2> cuda.err || cuda_status=$?
if [ $cuda_status -eq 0 ]; then
    same_outputs cuda4.f32 infer4.f32 "CUDA library (on this GPU) agrees with lenet5 infer"
elif [ $cuda_status -eq 1 ] && ! ls /dev/nvidia[0-9]* > /dev/null 2>&1; then
    grep -q "a generated kernel failed" cuda.err || { echo "FAILED: CUDA run without a GPU: $(cat cuda.err)"; exit 1; }
    echo "ok: no CUDA device: the CUDA library's results were not checked here; a run fails cleanly: $(tail -1 cuda.err)"
else
    echo "FAILED: the CUDA library exited $cuda_status: $(cat cuda.err)"; exit 1
fi

# Refused requests leave the output folder as it was.
expect_export_error() {  # PATTERN WHAT ARGS...
    local pattern=$1 what=$2
    shift 2
    if "$lenet" export --weights lenet5.cnnp --out refused "$@" 2> err.txt > /dev/null; then
        echo "FAILED: $what was accepted"; exit 1
    fi
    grep -q "$pattern" err.txt || { echo "FAILED: $what: $(cat err.txt)"; exit 1; }
    [ -z "$(ls -A refused 2> /dev/null)" ] || { echo "FAILED: $what left files: $(ls -A refused)"; exit 1; }
    echo "ok: $what: $(grep export: err.txt | head -1)"
}
expect_export_error "GPU API other than CUDA" "an OpenCL target" --target host-opencl
expect_export_error "a CUDA library has CUDA variants only" "CPU and CUDA variants in one library" --target x86-64-linux,x86-64-linux-cuda
expect_export_error "is not a Halide target" "an unknown target" --target x86-64-linux-bogus
expect_export_error "differ in OS, architecture or bits" "targets of two architectures" --target x86-64-linux,arm-64-linux
expect_export_error "the batch must be positive" "--max-batch 0" --max-batch 0

# The examples through CMake: find_package(lenet5) on the exported folder, C and C++.
cmake -G Ninja -S "$source_dir/examples/lenet5/consumer" -B consumer -Dlenet5_DIR="$work/host" > /dev/null
cmake --build consumer > /dev/null
data=/usr/share/datasets/fashion-mnist
zcat "$data/t10k-images-idx3-ubyte.gz" > t10k-images
zcat "$data/t10k-labels-idx1-ubyte.gz" > t10k-labels
eval_accuracy=$("$lenet" eval --weights lenet5.cnnp --json | json_field test_accuracy)
c_accuracy=$(consumer/classify t10k-images t10k-labels | json_field test_accuracy)
cpp_accuracy=$(consumer/classify_cpp t10k-images t10k-labels | json_field test_accuracy)
check "abs($c_accuracy - $eval_accuracy) <= 0.0005 and abs($cpp_accuracy - $eval_accuracy) <= 0.0005" \
      "the C and C++ examples built with CMake classify as eval does ($c_accuracy, $cpp_accuracy, $eval_accuracy)"

# --- ResNet-18 and MobileNet-v2: the library against infer and PyTorch ----------------------------
# Random weights carry no input normalisation (scale: mean 0, std 1), so both take x as it is.
for model in resnet18 mobilenet_v2; do
    $py "$source_dir/tests/torch/architecture_reference.py" prepare "$model" "$model" --batches 2 > /dev/null
    "$build/bin/$model" export --weights "$model/$model.cnnp" --out "$model/lib" > /dev/null
    check_dependencies "$model/lib/lib$model.a"
    link_check "$model/lib" "$model"
    "$model/lib/check" infer - "$model/x_b2.f32" "$model/lib.f32" 2 > /dev/null
    "$model/lib/check" threads -  # MobileNet-v2's kernels allocate scratch rows per task
    "$build/bin/$model" infer --weights "$model/$model.cnnp" --input "$model/x_b2.f32" --output "$model/infer.f32" > /dev/null
    same_outputs "$model/lib.f32" "$model/infer.f32" "$model: the library agrees with $model infer"
    $py "$source_dir/tests/torch/architecture_reference.py" compare "$model" "$model" 2 "$model/lib.f32"
    rm -rf "$model"
done
echo "library export: all checks passed"
