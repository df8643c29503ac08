#!/usr/bin/env bash
# The whole test suite: install, build, then every CTest suite (unit suites and end-to-end).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure "$@"
