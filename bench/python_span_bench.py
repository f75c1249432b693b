#!/usr/bin/env python3
"""The Python client's cost per span, measured per call (time.perf_counter_ns around each
`with tracer.span(...)`, and each `with tracer.start_as_current_span(...)` of tailgate.trace)
into percentiles, and as a burst average: the native span (tailgate._native) and the pure-Python
one side by side in one run, each in a process of its own (one tracer per process). No agent
needed: the spans go into the process's segment, whose one lane is sized so that the whole run
fits. Bounded in count and time. --baseline DIR measures the module in DIR (another checkout's
client/python, with its _native built into its tailgate/) in the same run, rounds interleaved,
and prints the medians of both.

    PYTHONPATH=client/python TAILGATE_LIBRARY=build/client/libtailgate.so \\
        python3 bench/python_span_bench.py [--spans N] [--json FILE] [--baseline DIR --rounds 5]
"""
import argparse
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import time

import tailgate


def measure(spans: int) -> dict:
    directory = tempfile.mkdtemp(prefix="tailgate-py-bench-", dir="/dev/shm")
    try:
        # One lane big enough for the whole run: every span is written, none dropped.
        tracer = tailgate.Tracer("bench", directory=directory, lanes=1, lane_bytes=1 << 28)
        samples = []
        deadline = time.monotonic() + 60
        clock = time.perf_counter_ns
        for i in range(spans):
            t0 = clock()
            with tracer.span("signal_generation", symbol="BTCUSDT", strength=0.83) as s:
                s.set_attribute("signal.side", "buy")
            samples.append(clock() - t0)
            if i % 4096 == 0 and time.monotonic() > deadline:
                break
        n = len(samples)
        t0 = clock()
        for _ in range(n):
            with tracer.span("signal_generation", symbol="BTCUSDT", strength=0.83) as s:
                s.set_attribute("signal.side", "buy")
        burst = (clock() - t0) / n
        samples.sort()
        result = {"native": tracer.native, "spans": n, "p50_ns": samples[n // 2],
                  "p99_ns": samples[int(n * 0.99)], "p999_ns": samples[int(n * 0.999)],
                  "max_ns": samples[-1], "burst_avg_ns": round(burst)}
        otel = getattr(tracer, "start_as_current_span", None)  # absent in older modules
        if otel is not None:
            samples = []
            for _ in range(n):
                t0 = clock()
                with otel("signal_generation",
                          attributes={"symbol": "BTCUSDT", "strength": 0.83}) as s:
                    s.set_attribute("signal.side", "buy")
                samples.append(clock() - t0)
            samples.sort()
            result.update(otel_p50_ns=samples[n // 2], otel_p99_ns=samples[int(n * 0.99)])
        result["dropped"] = tracer.stats()["dropped"]
        tracer.close()
        return result
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def in_child(spans: int, native: bool, path: str = "") -> dict:
    env = dict(os.environ, TAILGATE_PYTHON_NATIVE="1" if native else "0")
    if path:
        env["PYTHONPATH"] = os.pathsep.join([path, env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, __file__, "--one", "--spans", str(spans)], env=env,
                          capture_output=True, text=True, timeout=180, check=True)
    return json.loads(done.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--json")
    ap.add_argument("--one", action="store_true", help="measure this process's span, print JSON")
    ap.add_argument("--baseline", help="another client/python to measure beside this one")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.spans)))
        return
    if args.baseline:
        compare(args)
        return
    results = {"native": in_child(args.spans, True), "pure": in_child(args.spans, False)}
    for name, r in results.items():
        print(f"python span, {name:6} (3 attributes, context manager): " +
              " ".join(f"{k}={v}" for k, v in r.items()))
    if not results["native"]["native"]:
        print("  (tailgate._native did not load: both rows are the pure-Python span)")
    ratio = results["pure"]["p50_ns"] / max(results["native"]["p50_ns"], 1)
    print(f"pure-Python / native at p50: {ratio:.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)


def compare(args) -> None:
    """This module and the baseline, native spans, rounds interleaved: medians of the p50s."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client", "python")
    rows: dict = {"baseline span()": [], "this span()": [], "this start_as_current_span()": []}
    for _ in range(max(1, min(args.rounds, 50))):
        old = in_child(args.spans, True, args.baseline)
        new = in_child(args.spans, True, here)
        rows["baseline span()"].append(old["p50_ns"])
        rows["this span()"].append(new["p50_ns"])
        rows["this start_as_current_span()"].append(new.get("otel_p50_ns", 0))
    for name, p50s in rows.items():
        print(f"{name:32} p50 median {statistics.median(p50s):6.0f} ns  (rounds: {p50s})")


if __name__ == "__main__":
    main()
