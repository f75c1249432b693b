#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with warnings as errors, runs every test
# through ctest. This is README's second command and what CI runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/install-deps.sh"
"$root/tools/build.sh" RelWithDebInfo
cd "${TAILGATE_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "$(nproc)"
