#!/usr/bin/env bash
# The whole test suite: install, build, then every CTest suite (unit suites and end-to-end).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
# Unit suites side by side, one core each; end-to-end tests alone (tests/CMakeLists.txt).
ctest --test-dir "$root/build" --output-on-failure --parallel "$(nproc)" "$@"
