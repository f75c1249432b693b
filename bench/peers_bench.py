#!/usr/bin/env python3
"""What sharing keep decisions costs one agent (#21, docs/fleet.md): the real agent between
tailgate-load (through the ring) and tailgate-sink at the default policies, the same load with
peers off and with peers on against a real redis-server on 127.0.0.1, side by side: spans per
CPU-second of the agent (all its threads: receivers, pipeline, exporter, and with peers the
publisher and follower), peak RSS, keeps published. Every trace's root is called from another
process (tailgate-load --remote-parent), the fleet's case: with peers on, each sampled-out trace
goes through the hold, and each error trace's keep (1% of traces) is published.

Usage: peers_bench.py --build-dir DIR [--seconds 5] [--rate 100000] [--repeat 3]
                      [--hold-bytes 64MiB] [--local-traces] [--smoke]
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_bench  # noqa: E402  (the agent/sink/load harness)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, tmp):
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(exe):
            sys.exit("redis-server not found: tools/install-deps.sh installs it")
        self.port = free_port()
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", tmp],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("redis-server did not start")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run(build, extra_yaml, rate, seconds, remote_parent=True):
    """One run: spans received, agent CPU seconds per million spans, peak RSS, keeps published."""
    tmp = tempfile.mkdtemp(prefix="tailgate-peers-run-")
    stack = e2e_bench.Stack(build, tmp, extra_yaml)
    try:
        time.sleep(0.2)  # the ring receiver's first scan
        cpu0 = stack.cpu_seconds()
        sent = e2e_bench.load(build, stack, rate, 10, seconds, error=0.01,
                              extra=["--remote-parent"] if remote_parent else [])
        m = stack.settled()
        cpu = stack.cpu_seconds() - cpu0
        received = m.get("tailgate_spans_received_total", 0)
        return {"received_per_s": received / sent["seconds"],
                "cpu_s_per_million": cpu / received * 1e6 if received else 0,
                "rss_mb": stack.peak_rss_mb(),
                "dropped": sum(v for k, v in m.items()
                               if k.startswith("tailgate_spans_dropped_total{")),
                "published": m.get('tailgate_peer_keeps_total{direction="published"}', 0),
                "held_peak": m.get("tailgate_hold_spans", 0)}
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rate", type=int, default=100_000, help="offered spans/s (10-span traces)")
    ap.add_argument("--repeat", type=int, default=3, help="median of N runs (by CPU per span)")
    ap.add_argument("--hold-bytes", default="64MiB", help="peers.hold_bytes (default 64MiB)")
    ap.add_argument("--local-traces", action="store_true",
                    help="traces that never leave the process: no hold, no keep to share")
    ap.add_argument("--smoke", action="store_true", help="one short run of each (CI)")
    a = ap.parse_args()
    seconds, repeat = (0.5, 1) if a.smoke else (a.seconds, a.repeat)
    tmp = tempfile.mkdtemp(prefix="tailgate-peers-bench-")
    redis = Redis(tmp)
    peers = (f"peers:\n  enabled: true\n  endpoint: 127.0.0.1:{redis.port}\n"
             f"  agent_id: bench\n  hold_bytes: {a.hold_bytes}\n")
    try:
        print(f"{'peers':<6} {'recv/s':>8} {'spans/cpu-s':>12} {'cpu-s/M':>8} {'rss MB':>7} "
              f"{'dropped':>8} {'published':>9}  cpu-s/M of each run")
        cases = (("off", ""), ("on", peers))
        all_runs = {name: [] for name, _ in cases}
        for _ in range(max(1, repeat)):  # interleaved: a noisy neighbour hits both alike
            for name, extra in cases:
                all_runs[name].append(run(a.build_dir, extra, a.rate, seconds,
                                          not a.local_traces))
        results = {}
        for name, _ in cases:
            runs = sorted(all_runs[name], key=lambda r: r["cpu_s_per_million"])
            r = results[name] = runs[len(runs) // 2]
            per_cpu_s = 1e6 / r["cpu_s_per_million"] if r["cpu_s_per_million"] else 0
            print(f"{name:<6} {r['received_per_s'] / 1e3:7.0f}k {per_cpu_s / 1e3:11.0f}k "
                  f"{r['cpu_s_per_million']:8.2f} {r['rss_mb']:7.0f} {r['dropped']:8.0f} "
                  f"{r['published']:9.0f}  "
                  + " ".join(f"{x['cpu_s_per_million']:.2f}" for x in runs), flush=True)
        off, on = (results[k]["cpu_s_per_million"] for k in ("off", "on"))
        if off and on:
            print(f"peers on: {100 * (on / off - 1):+.1f}% agent CPU per span")
    finally:
        redis.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
