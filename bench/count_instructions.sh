#!/usr/bin/env bash
# Instructions per span, counted by callgrind (the same on a busy machine as on a quiet one):
#  - producer: the C++ client's full span (ring_bench --spans: clock, ids, name, six attributes,
#    end, copy into the lane), counted inside full_span() only, so start-up is left out;
#  - agent, per input path (ingest_bench): the receiver's decode (counted_decode(), or for
#    OTLP/gRPC the receiver's Export handler) and the sampling stage at the default policies
#    (counted_sample()), each counted in a run of its own over the same prepared spans.
# Usage: bench/count_instructions.sh BUILD_DIR [--smoke] [--json FILE]
#   --smoke: few spans, to keep the script working in ctest (asserts nothing about the counts).
set -euo pipefail
build=$1
shift
spans=20000
traces=1024
json=
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) spans=200; traces=64 ;;
    --json) json=$2; shift ;;
    *) echo "usage: $0 BUILD_DIR [--smoke] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Instructions inside the functions matching $1 (callgrind --toggle-collect), of the command after.
count() {
  local pattern=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" --collect-atstart=no \
    --toggle-collect="$pattern" "$@" >"$out/log" 2>&1 || { cat "$out/log" >&2; return 1; }
  awk '/^(summary|totals):/ {print $2; exit}' "$out/cg"
}
per() { awk -v ir="$1" -v n="$2" 'BEGIN {printf "%.0f", ir / n}'; }

producer=$(per "$(count '*full_span*' "$build/bench/ring_bench" --spans "$spans")" "$spans")
printf '%-44s %8s instructions per span\n' "producer: full C++ span, 6 attributes" "$producer"
results="\"producer_full_span\": $producer"
n=$((traces * 4))
for path in ring udp otlp_grpc otlp_http jaeger jaeger_thrift; do
  decode_fn='*counted_decode*'
  [ "$path" = otlp_grpc ] && decode_fn='*OtlpGrpcReceiver::Service::Export*'
  d=$(per "$(count "$decode_fn" "$build/bench/ingest_bench" --path "$path" --traces "$traces")" "$n")
  s=$(per "$(count '*counted_sample*' "$build/bench/ingest_bench" --path "$path" --traces "$traces")" "$n")
  printf '%-44s %8s instructions per span (decode %s + sampling %s)\n' "agent: $path" \
    "$((d + s))" "$d" "$s"
  results="$results, \"agent_${path}\": {\"decode\": $d, \"sampling\": $s, \"total\": $((d + s))}"
done
[ -n "$json" ] && echo "{$results, \"spans\": $n, \"producer_spans\": $spans}" >"$json"
exit 0
