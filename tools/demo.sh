#!/usr/bin/env bash
# The demo: installs dependencies, builds, then sends trading-workflow traces through a real
# tailgate agent to a real OTLP/gRPC receiver (tailgate-sink) on loopback, and prints what was
# sent, received, kept and delivered. Exits non-zero if the numbers do not add up.
# README's first command. Extra arguments go to tools/demo.py (e.g. --traces 20000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/install-deps.sh"
"$root/tools/build.sh" Release
exec python3 "$root/tools/demo.py" --build-dir "${TAILGATE_BUILD_DIR:-$root/build}" "$@"
