#!/usr/bin/env bash
# Configures and builds cnnc with CMake + Ninja into build/ (Release).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build
