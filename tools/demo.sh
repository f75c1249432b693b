#!/usr/bin/env bash
# The demo: installs only what it needs (tools/install-deps.sh demo: no test tools), builds only
# what it runs (the agent, tailgate-sink, tailgate-load and the libtailgate.so tailgate-load uses),
# then sends trading-workflow traces through a real tailgate agent to a real OTLP/gRPC receiver
# (tailgate-sink) on loopback, and prints what was sent, received, kept and delivered. Exits
# non-zero if the numbers do not add up. README's first command. Extra arguments go to
# tools/demo.py (e.g. --traces 20000; --fleet: three agents sharing keeps through Redis).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${TAILGATE_BUILD_DIR:-$root/build}
"$root/tools/install-deps.sh" demo
# Tests and benchmarks off: configuring them would need the test set's packages (Catch2, Google
# Benchmark). tools/build.sh turns them back on in the same build directory.
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTAILGATE_WERROR=ON \
  -DTAILGATE_BUILD_TESTS=OFF -DTAILGATE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target tailgate tailgate-sink tailgate-load
exec python3 "$root/tools/demo.py" --build-dir "$build_dir" "$@"
