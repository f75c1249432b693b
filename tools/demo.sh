#!/usr/bin/env bash
# The demo: installs dependencies, builds what it runs (the agent, tailgate-sink, tailgate-load),
# then sends trading-workflow traces through a real tailgate agent to a real OTLP/gRPC receiver
# (tailgate-sink) on loopback, and prints what was sent, received, kept and delivered. Exits
# non-zero if the numbers do not add up. README's first command. Extra arguments go to
# tools/demo.py (e.g. --traces 20000; --fleet: three agents sharing keeps through Redis).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${TAILGATE_BUILD_DIR:-$root/build}
"$root/tools/install-deps.sh"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTAILGATE_WERROR=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target tailgate tailgate-sink tailgate-load
exec python3 "$root/tools/demo.py" --build-dir "$build_dir" "$@"
