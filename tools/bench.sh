#!/usr/bin/env bash
# Builds tailgate in Release (into build-release/) and runs the benchmarks on this machine,
# loopback only, each bounded in time: the ring's producer side (per-call percentiles with 1, 2 and
# 4 producer threads, the drop path, one lane saturated, the same span over UDP), instructions per
# span counted by callgrind (bench/count_instructions.sh: the producer's span, and the agent's
# decode + sampling on each input path), memory per buffered span on each input path
# (ingest_bench --memory), the Python client, the whole path end to end
# (bench/e2e_bench.py: the real agent between tailgate-load and tailgate-sink), and the sampler
# stage.
# Prints tables and writes bench-results/*.json.
# Usage: tools/bench.sh [--quick]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
quick=${1:-}
export TAILGATE_BUILD_DIR=${TAILGATE_BUILD_DIR:-$root/build-release}
"$root/tools/install-deps.sh"
"$root/tools/build.sh" Release -DTAILGATE_BUILD_TESTS=OFF >/dev/null
out=$root/bench-results
mkdir -p "$out"
b=$TAILGATE_BUILD_DIR
echo "== ring: producer cost per call (rdtsc brackets; ~10 ns of each is the bracket itself)"
"$b/bench/ring_bench" ${quick:+--quick} --json "$out/ring.json"
echo
echo "== instructions per span (callgrind): the producer's span, the agent's work per input path"
"$root/bench/count_instructions.sh" "$b" ${quick:+--smoke} --json "$out/instructions.json"
echo
echo "== memory per buffered span, each input path (RSS growth over spans held, beside encoded)"
for path in ring udp otlp_grpc otlp_http jaeger; do
  "$b/bench/ingest_bench" --path "$path" --traces "$([ -n "$quick" ] && echo 2000 || echo 50000)" --memory
done
echo
echo "== python client"
PYTHONPATH=$root/client/python TAILGATE_LIBRARY=$b/client/libtailgate.so \
  /usr/bin/python3 "$root/bench/python_span_bench.py" --spans "$([ -n "$quick" ] && echo 2000 || echo 100000)" \
  --json "$out/python.json"
echo
echo "== end to end: producer → ring or UDP → agent → tailgate-sink (real processes)"
/usr/bin/python3 "$root/bench/e2e_bench.py" --build-dir "$b" ${quick:+--quick} \
  --repeat "$([ -n "$quick" ] && echo 1 || echo 3)" \
  --raw-ring-json "$out/ring.json" --json "$out/e2e.json"
echo
echo "== sampler stage (one core)"
"$b/bench/pipeline_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  ${quick:+--benchmark_min_time=0.01} --benchmark_out="$out/pipeline.json" --benchmark_out_format=json
echo "results in $out/"
