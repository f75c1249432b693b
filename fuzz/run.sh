#!/usr/bin/env bash
# Builds the fuzz targets (clang, into build-fuzz/ or $TAILGATE_FUZZ_BUILD_DIR) and runs each for
# a bounded time on a copy of its committed seed corpus; any finding fails (exit 1) and leaves
# its crash input in the work directory. Usage: fuzz/run.sh [seconds per target] [target...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_wire_record fuzz_wire_datagram fuzz_ring_segment fuzz_config
  fuzz_jaeger_thrift fuzz_jaeger_packed fuzz_otlp_http fuzz_otlp_encode fuzz_otlp_packed)
build=${TAILGATE_FUZZ_BUILD_DIR:-$root/build-fuzz}
CXX=clang++-14 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAILGATE_FUZZ=ON \
  -DTAILGATE_WERROR=ON -DTAILGATE_BUILD_TESTS=OFF -DTAILGATE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
work=$(mktemp -d /tmp/tailgate-fuzz-XXXXXX)
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp -r "$root/fuzz/corpus/$t/." "$work/$t/"
  echo "== $t for ${seconds}s"
  # -rss_limit_mb and -timeout: a leak or a hang is a finding too. Findings go to $work.
  (cd "$work" && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/fuzz/$t" "$work/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/$t-" 2>&1 | tail -n 12)
done
rm -rf "$work"
