#!/usr/bin/env python3
"""The Python client's cost per span, measured per call (time.perf_counter_ns around each
`with tracer.span(...)`) into percentiles, and as a burst average. No agent needed: the spans go
into this process's segment, whose one lane is sized so that the whole run fits. Bounded in count
and time.

    PYTHONPATH=client/python TAILGATE_LIBRARY=build/client/libtailgate.so \\
        python3 bench/python_span_bench.py [--spans N]
"""
import argparse
import json
import os
import shutil
import tempfile
import time

import tailgate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--json")
    args = ap.parse_args()
    directory = tempfile.mkdtemp(prefix="tailgate-py-bench-", dir="/dev/shm")
    try:
        # One lane big enough for the whole run: every span is written, none dropped.
        tracer = tailgate.Tracer("bench", directory=directory, lanes=1, lane_bytes=1 << 28)
        samples = []
        deadline = time.monotonic() + 60
        clock = time.perf_counter_ns
        for i in range(args.spans):
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
        result = {"spans": n, "p50_ns": samples[n // 2], "p99_ns": samples[int(n * 0.99)],
                  "p999_ns": samples[int(n * 0.999)], "max_ns": samples[-1],
                  "burst_avg_ns": round(burst), "dropped": tracer.stats()["dropped"]}
        print("python span (3 attributes, context manager): " +
              " ".join(f"{k}={v}" for k, v in result.items()))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f)
        tracer.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
