#!/usr/bin/env bash
# Configures and builds tailgate into build/ (or $TAILGATE_BUILD_DIR). Warnings are errors.
# Usage: tools/build.sh [Release|RelWithDebInfo|Debug] [extra cmake -D options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_type=${1:-RelWithDebInfo}
shift || true
build_dir=${TAILGATE_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" -DTAILGATE_WERROR=ON "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
