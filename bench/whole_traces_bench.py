#!/usr/bin/env python3
"""Whether load shedding splits the traces that matter (issue 28 item 3): the real agent with its
shipped settings between tailgate-load (through the ring) and tailgate-sink --jsonl, offered a
paced rate of 4-span traces whose failing or slow span is the root, which ends last. Counts, for
the error and the slow traces the producer made, how many arrived whole at the sink, partial, or
not at all, beside the agent's own account (stress decisions, hold revivals, kept_incomplete) and
the spans the producer could not hand over (a full lane: counted, not the agent's shedding).

Usage: whole_traces_bench.py --build-dir DIR [--rate SPANS_PER_S] [--seconds S]
                             [--max-buffered-bytes SIZE] [--repeat N]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_bench import Stack, load  # noqa: E402

SPANS_PER_TRACE = 4


def arrived(jsonl):
    """Spans per trace id at the sink, and the ids of traces with an error or a slow root."""
    spans, errors, slow = {}, set(), set()
    with open(jsonl, "rb") as f:  # one read: the sink may be mid-line
        text = f.read()
    for line in text.split(b"\n")[:-1]:
        s = json.loads(line)
        t = s["trace_id"]
        spans[t] = spans.get(t, 0) + 1
        if s["status"]["code"] == 2:
            errors.add(t)
        if s["parent_span_id"] == "" and s["end_unix_ns"] - s["start_unix_ns"] >= 100_000_000:
            slow.add(t)
    return spans, errors, slow


def run(build, rate, seconds, max_buffered):
    tmp = tempfile.mkdtemp(prefix="tailgate-whole-")
    sampling = f"  max_buffered_bytes: {max_buffered}\n" if max_buffered else ""
    stack = Stack(build, tmp, sampling, jsonl=True, max_trace_age="30s")
    try:
        time.sleep(0.2)  # the ring receiver's first scan
        sent = load(build, stack, rate, SPANS_PER_TRACE, seconds, error=0.05, slow=0.05)
        m = stack.settled(120)
        time.sleep(1.0)  # the last batches reach the sink's file
        spans, errors, slow = arrived(stack.jsonl)
        wanted = errors | slow
        whole = sum(1 for t in wanted if spans[t] == SPANS_PER_TRACE)
        made = sent["error_traces"] + sent["slow_only_traces"]
        return {
            "offered_spans_per_s": rate, "received_per_s": m.get("tailgate_spans_received_total", 0)
            / sent["seconds"], "producer_dropped": sent["spans_not_sent"],
            "error_or_slow_made": made, "arrived": len(wanted), "whole": whole,
            "partial": len(wanted) - whole,
            "stress_decisions": m.get('tailgate_trace_decisions_total{trigger="stress"}', 0),
            "memory_decisions": m.get('tailgate_trace_decisions_total{trigger="memory"}', 0),
            "revived": m.get("tailgate_hold_spans_revived_total", 0),
            "kept_incomplete": m.get("tailgate_traces_kept_incomplete_total", 0),
            "peak_rss_mb": stack.peak_rss_mb(),
        }
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--rate", type=float, default=300_000, help="spans per second offered")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--max-buffered-bytes", default="",
                    help="sampling.max_buffered_bytes (default: the shipped setting)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    for _ in range(args.repeat):
        r = run(build, args.rate, args.seconds, args.max_buffered_bytes)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
