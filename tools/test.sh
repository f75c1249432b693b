#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with warnings as errors, runs every test
# through ctest; then the whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and the ring, pipeline, exporter and peers tests under ThreadSanitizer. This is README's second
# command and what CI runs. TAILGATE_SANITIZERS=0 runs the plain suite only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
"$root/tools/install-deps.sh"

stage() { printf '\n== %s (%ds so far)\n' "$1" "$SECONDS"; }

stage "build and test"
"$root/tools/build.sh" RelWithDebInfo
(cd "${TAILGATE_BUILD_DIR:-$root/build}" && ctest --output-on-failure -j "$jobs")
# CI artifacts: build/artifacts/ (status-page.png, the admin status page as headless chromium
# rendered it in tests/integration/lookup_test.cpp).
echo "artifacts: ${TAILGATE_BUILD_DIR:-$root/build}/artifacts"

[ "${TAILGATE_SANITIZERS:-1}" = 0 ] && exit 0
supp="$root/tests/sanitizers"

stage "AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite"
asan_dir="${TAILGATE_BUILD_DIR:-$root/build}-asan"
TAILGATE_BUILD_DIR="$asan_dir" "$root/tools/build.sh" RelWithDebInfo \
  -DTAILGATE_SANITIZE=address,undefined
(cd "$asan_dir" &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
  LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" --timeout 600)

stage "ThreadSanitizer: ring, pipeline, exporter, peers"
tsan_dir="${TAILGATE_BUILD_DIR:-$root/build}-tsan"
cmake -S "$root" -B "$tsan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAILGATE_WERROR=ON \
  -DTAILGATE_SANITIZE=thread -DTAILGATE_BUILD_BENCH=OFF >/dev/null
cmake --build "$tsan_dir" -j "$jobs" --target shm_tests model_tests pipeline_tests \
  receivers_tests export_tests peers_tests
(cd "$tsan_dir" &&
  TSAN_OPTIONS="suppressions=$supp/tsan.supp:halt_on_error=1:second_deadlock_stack=1" \
  ctest --output-on-failure -j "$jobs" --timeout 600 -L '^(shm|model|pipeline|receivers|export|peers)$')
stage "fuzz targets: a short run of each from its committed seeds"
TAILGATE_FUZZ_BUILD_DIR="${TAILGATE_BUILD_DIR:-$root/build}-fuzz" "$root/fuzz/run.sh" 20

stage "done"
