#!/usr/bin/env bash
# One Redis's capacity for peers (docs/fleet.md): starts a throwaway redis-server on a free
# loopback port (no persistence), and measures with redis-benchmark what the agents do to it:
# XADD of one keep (the publisher, pipelined as it batches) and XREAD of 1 and of 100 entries (a
# follower woken per batch, or catching up), with Redis's own CPU seconds per thousand commands
# from INFO. Bounded: each run is -n commands under `timeout`.
# Usage: tools/redis-capacity.sh [commands per run, default 200000]
set -euo pipefail
n=${1:-200000}
dir=$(mktemp -d /tmp/redis-capacity.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
  >"$dir/redis.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

cpu() {  # Redis's user+sys CPU seconds so far
  redis-cli -p "$port" info cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(user|sys):/ {s += $2} END {printf "%.3f", s}'
}
run() {  # label, then redis-benchmark arguments after the connection ones
  local label=$1; shift
  local before after rps
  before=$(cpu)
  rps=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -n "$n" --csv "$@" |
    tail -1 | cut -d, -f2 | tr -d '"')
  after=$(cpu)
  awk -v l="$label" -v r="$rps" -v b="$before" -v a="$after" -v n="$n" \
    'BEGIN {printf "%-34s %10.0f cmd/s   Redis CPU %.3f s per 1000 cmds\n", l, r, (a-b)*1000/n}'
}
keep=(XADD tailgate:keeps MAXLEN '~' 100000 '*' a gw-host-3:41234
      t 4bf92f3577b34da6a3ce929d0e0e4736 p critical q 0.1)
echo "redis $(redis-server --version | awk '{print $3}'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run "XADD, 1 client, no pipeline" -c 1 -P 1 "${keep[@]}"
run "XADD, 8 clients, no pipeline" -c 8 -P 1 "${keep[@]}"
run "XADD, 8 clients, pipeline 16" -c 8 -P 16 "${keep[@]}"
run "XADD, 8 clients, pipeline 64" -c 8 -P 64 "${keep[@]}"
echo "stream: $(redis-cli -p "$port" xlen tailgate:keeps) entries," \
  "$(redis-cli -p "$port" memory usage tailgate:keeps) bytes"
# A follower woken for each small batch reads one entry a call: the cost per wake-up.
run "XREAD COUNT 1, 8 clients" -c 8 -P 1 XREAD COUNT 1 STREAMS tailgate:keeps 0-0
# A follower behind by a batch reads many a call: the cost per entry delivered.
run "XREAD COUNT 100, 8 clients" -c 8 -P 1 XREAD COUNT 100 STREAMS tailgate:keeps 0-0
# The lookup design past one stream (docs/fleet.md): a keep stored under its trace id, and agents
# asking for the traces they hold, ten ids a call.
run "SET id EX 30, 8 clients, pipeline 16" -c 8 -P 16 -r 10000000 \
  SET keep:__rand_int__ critical EX 30
run "MGET 10 ids, 8 clients, pipeline 16" -c 8 -P 16 -r 10000000 MGET \
  keep:__rand_int__ keep:__rand_int__ keep:__rand_int__ keep:__rand_int__ keep:__rand_int__ \
  keep:__rand_int__ keep:__rand_int__ keep:__rand_int__ keep:__rand_int__ keep:__rand_int__
