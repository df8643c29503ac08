#!/usr/bin/env bash
# Installs everything cnnc needs from Debian 12 packages (idempotent; run as root).
set -euo pipefail
packages=(
    build-essential cmake ninja-build            # C/C++ toolchain, CMake 3.25, Ninja
    libhalide14-0-dev                            # Halide 14 (links LLVM 14), autoschedulers
    doctest-dev nlohmann-json3-dev libcli11-dev  # tests, JSON, command lines
    zlib1g-dev                                   # gzip IDX files
    clang-14 llvm-14 file                        # `export`: C and archives for any target
    dataset-fashion-mnist                        # the default training data
    python3-torch python3-torchvision            # numeric reference and benchmark peer (tests only)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "cnnc: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
