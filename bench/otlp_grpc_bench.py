#!/usr/bin/env python3
"""Agent CPU per span on OTLP/gRPC input, builds side by side: for each build, the agent at its
default policies between otlp_grpc_load (this build's bench/) and tailgate-sink, `--spans` spans
per run (requests of 512, traces of 4, 5% errors, 5% slow), runs interleaved old/new, `--repeats`
of each. Reports per build the median agent CPU-seconds per million spans (/proc, after every
span is decided), spans per agent CPU-second, and peak RSS. With --hold-spans, also the RSS
growth per buffered span: that many spans of traces without a root (held until max_trace_age,
here 120 s), VmRSS after the load less VmRSS before, over the spans received.

Usage: otlp_grpc_bench.py --load BUILD/bench/otlp_grpc_load --build NAME=DIR [--build ...]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo import wait_for  # noqa: E402
from e2e_bench import Stack  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--load", required=True)
    p.add_argument("--build", action="append", required=True, help="NAME=BUILD_DIR")
    p.add_argument("--spans", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--hold-spans", type=int, default=0)
    args = p.parse_args()
    builds = [b.split("=", 1) for b in args.build]
    results = {name: [] for name, _ in builds}
    for _ in range(args.repeats):
        for name, build in builds:
            results[name].append(measure(build, args.load, args.spans))
            r = results[name][-1]
            print(f"{name}: {r['cpu'] / r['spans'] * 1e6:.2f} CPU-s/M spans, "
                  f"{r['rss']:.0f} MB peak, load {r['seconds']:.1f}s", flush=True)
    print(f"\n{'build':<10} {'CPU-s per M spans':>18} {'spans per CPU-s':>16} {'peak RSS MB':>12}")
    for name, runs in results.items():
        per_m = statistics.median(r["cpu"] / r["spans"] * 1e6 for r in runs)
        rss = statistics.median(r["rss"] for r in runs)
        print(f"{name:<10} {per_m:>18.2f} {1e6 / per_m:>16,.0f} {rss:>12.0f}")
    if not args.hold_spans:
        return
    held = {name: [] for name, _ in builds}
    for _ in range(args.repeats):
        for name, build in builds:
            held[name].append(rss_per_held_span(build, args.load, args.hold_spans))
            print(f"{name}: {held[name][-1]:.0f} B of RSS per buffered span", flush=True)
    print(f"\n{'build':<10} {'RSS growth per buffered span (B)':>34}")
    for name, runs in held.items():
        print(f"{name:<10} {statistics.median(runs):>34.0f}")


def vm_rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def rss_per_held_span(build, load, spans):
    tmp = tempfile.mkdtemp(prefix="tailgate-otlp-bench-")
    stack = Stack(build, tmp, otlp_grpc=True, max_trace_age="120s")
    try:
        port = wait_for(os.path.join(tmp, "agent.err"),
                        r"receiver=otlp_grpc endpoint=\S+:(\d+)", 10).group(1)
        time.sleep(0.5)
        before = vm_rss_bytes(stack.agent.pid)
        out = subprocess.run([load, port, str(spans), "hold"], capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, out.stderr
        time.sleep(1.0)  # the pipeline takes in what is queued
        m = stack.metrics()
        assert m.get("tailgate_spans_sampled_out_total", 0) == 0, "spans were decided"
        return (vm_rss_bytes(stack.agent.pid) - before) / m["tailgate_spans_received_total"]
    finally:
        stack.close()


def measure(build, load, spans):
    tmp = tempfile.mkdtemp(prefix="tailgate-otlp-bench-")
    stack = Stack(build, tmp, otlp_grpc=True)
    try:
        port = wait_for(os.path.join(tmp, "agent.err"),
                        r"receiver=otlp_grpc endpoint=\S+:(\d+)", 10).group(1)
        cpu_before = stack.cpu_seconds()
        out = subprocess.run([load, port, str(spans)], capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, out.stderr
        m = stack.settled()
        time.sleep(0.2)
        return {"cpu": stack.cpu_seconds() - cpu_before, "rss": stack.peak_rss_mb(),
                "spans": m.get("tailgate_spans_received_total", 0),
                "seconds": float(out.stdout.split('"seconds": ')[1].rstrip("}\n"))}
    finally:
        stack.close()


if __name__ == "__main__":
    main()
