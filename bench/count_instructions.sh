#!/usr/bin/env bash
# Instructions per span, counted by callgrind (the same on a busy machine as on a quiet one):
# the C++ client's full span (ring_bench --spans: clock, ids, name, six attributes, end, copy into
# the lane), counted inside full_span() only, so start-up and the tracer's set-up are left out.
# Usage: bench/count_instructions.sh BUILD_DIR [SPANS] [--json FILE]
set -euo pipefail
build=$1
spans=${2:-20000}
json=${4:-}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/cg" --collect-atstart=no \
  --toggle-collect='*full_span*' "$build/bench/ring_bench" --spans "$spans" >"$out/log" 2>&1 ||
  { cat "$out/log"; exit 1; }
ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out/cg")
per=$(awk -v ir="$ir" -v n="$spans" 'BEGIN {printf "%.0f", ir / n}')
echo "producer: full C++ span (6 attributes)   $per instructions per span ($spans spans, callgrind)"
[ -n "$json" ] && printf '{"producer_full_span_instructions": %s, "spans": %s}\n' "$per" "$spans" >"$json"
exit 0
