#!/usr/bin/env bash
# Configures and builds tailgate into build/ (or $TAILGATE_BUILD_DIR). Warnings are errors.
# Usage: tools/build.sh [Release|RelWithDebInfo|Debug] [extra cmake -D options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_type=${1:-RelWithDebInfo}
shift || true
build_dir=${TAILGATE_BUILD_DIR:-$root/build}
# Tests and benchmarks on explicitly: the demo (tools/demo.sh) may have turned them off in the
# same build directory's cache.
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" -DTAILGATE_WERROR=ON \
  -DTAILGATE_BUILD_TESTS=ON -DTAILGATE_BUILD_BENCH=ON "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
