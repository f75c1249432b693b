#!/usr/bin/env python3
"""The tailgate demo: tailgate-load -> tailgate (UDP receiver -> pipeline -> OTLP/gRPC exporter)
-> tailgate-sink, all on 127.0.0.1 with ports picked by the kernel. Prints what was sent,
received, kept (and why) and delivered; exits 1 if the numbers do not add up.

Standard library only. Usually run through tools/demo.sh, which builds first.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def wait_for(path, pattern, seconds):
    """Polls a log file until `pattern` matches; returns the match or None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                m = re.search(pattern, f.read())
            if m:
                return m
        time.sleep(0.02)
    return None


def stop(proc, seconds=20):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--traces", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=2000, help="traces per second")
    ap.add_argument("--error-fraction", type=float, default=0.05)
    ap.add_argument("--slow-fraction", type=float, default=0.05)
    args = ap.parse_args()

    agent_bin = os.path.join(args.build_dir, "agent", "tailgate")
    sink_bin = os.path.join(args.build_dir, "tools", "tailgate-sink")
    load_bin = os.path.join(args.build_dir, "tools", "tailgate-load")
    for b in (agent_bin, sink_bin, load_bin):
        if not os.access(b, os.X_OK):
            sys.exit(f"demo: {b} is missing; build first (tools/demo.sh does)")

    with tempfile.TemporaryDirectory(prefix="tailgate-demo-") as tmp:
        logs = {name: open(os.path.join(tmp, name), "w") for name in
                ("sink.out", "sink.err", "agent.err")}
        jsonl = os.path.join(tmp, "kept.jsonl")
        sink = subprocess.Popen([sink_bin, "--listen", "127.0.0.1:0", "--jsonl", jsonl],
                                stdout=logs["sink.out"], stderr=logs["sink.err"])
        agent = None
        try:
            m = wait_for(os.path.join(tmp, "sink.err"), r"on port (\d+)", 10)
            if not m:
                sys.exit("demo: tailgate-sink did not start")
            sink_port = int(m.group(1))
            config = os.path.join(tmp, "tailgate.yaml")
            with open(config, "w") as f:
                f.write("receivers:\n  udp:\n    endpoint: 127.0.0.1:0\n"
                        f"exporter:\n  endpoint: 127.0.0.1:{sink_port}\n"
                        "  max_batch_delay: 100ms\n")
            agent = subprocess.Popen([agent_bin, "--config", config], stdout=subprocess.DEVNULL,
                                     stderr=logs["agent.err"])
            m = wait_for(os.path.join(tmp, "agent.err"),
                         r"receiver=udp endpoint=127\.0\.0\.1:(\d+)", 10)
            if not m:
                sys.exit("demo: the agent did not start:\n" + open(os.path.join(tmp, "agent.err")).read())
            udp_port = int(m.group(1))
            print(f"demo: sink on 127.0.0.1:{sink_port} (OTLP/gRPC), agent UDP on 127.0.0.1:{udp_port}")
            print(f"demo: sending {args.traces} trading-workflow traces at {args.rate:g}/s ...")
            load = subprocess.run(
                [load_bin, "--target", f"127.0.0.1:{udp_port}", "--traces", str(args.traces),
                 "--rate", str(args.rate), "--error-fraction", str(args.error_fraction),
                 "--slow-fraction", str(args.slow_fraction), "--seed", "42", "--max-seconds", "120"],
                check=True, capture_output=True, text=True)
            sent = json.loads(load.stdout)
            agent_rc = stop(agent)
            agent = None
            stats = wait_for(os.path.join(tmp, "agent.err"), r"event=shutdown_complete (.*)", 5)
            sink_rc = stop(sink)
            sink_summary = json.loads(open(os.path.join(tmp, "sink.out")).read().strip().splitlines()[-1])
        finally:
            for p in (agent, sink):
                if p is not None and p.poll() is None:
                    p.kill()
        if not stats:
            sys.exit("demo: no shutdown_complete line from the agent")
        counts = dict(kv.split("=", 1) for kv in stats.group(1).split())
        counts = {k: int(v) for k, v in counts.items()}

        # Why each kept trace matters, from what the sink actually holds.
        traces = {}
        with open(jsonl) as f:
            for line in f:
                s = json.loads(line)
                t = traces.setdefault(s["trace_id"], {"error": False, "duration_ns": 0})
                t["error"] |= s["status"]["code"] == 2
                t["duration_ns"] = max(t["duration_ns"], s["end_unix_ns"] - s["start_unix_ns"])
        errors = sum(1 for t in traces.values() if t["error"])
        slow = sum(1 for t in traces.values() if not t["error"] and t["duration_ns"] > 100_000_000)

    policies = ", ".join(f"{k}: {v}" for k, v in sorted(sink_summary["spans_by_policy"].items()))
    print()
    print(f"  sent by tailgate-load     {sent['spans_sent']:>8} spans in {sent['traces_sent']} traces "
          f"({sent['error_traces']} failing, {sent['slow_traces']} slow) over {sent['datagrams']} datagrams")
    print(f"  received by the agent     {counts['received']:>8} spans")
    print(f"  lost before decoding      {counts['dropped_malformed'] + counts['dropped_kernel_buffer']:>8} "
          f"(malformed {counts['dropped_malformed']}, kernel buffer {counts['dropped_kernel_buffer']})")
    print(f"  dropped in the agent      {counts['dropped']:>8}")
    print(f"  exported (OTLP/gRPC)      {counts['exported']:>8} spans in {counts['export_requests_ok']} requests"
          f" ({counts['export_retries']} retries)")
    print(f"  arrived at the sink       {sink_summary['spans']:>8} spans in {len(traces)} traces")
    print()
    print("  kept, and why:")
    print(f"    {errors:>6} traces with an error (status ERROR): the ones that explain a bad fill")
    print(f"    {slow:>6} traces slower than 100 ms (and no error)")
    print(f"    {len(traces) - errors - slow:>6} ordinary traces")
    print(f"    sampling.policy on the kept spans: {policies}")
    print("    (the sampling stage is pass-through for now: every received span is kept)")
    print()

    problems = []
    if agent_rc != 0:
        problems.append(f"the agent exited {agent_rc}")
    if sink_rc != 0:
        problems.append(f"the sink exited {sink_rc}")
    if not (sent["spans_sent"] == counts["received"] == counts["exported"] == sink_summary["spans"]):
        problems.append("sent, received, exported and arrived differ")
    if counts["dropped"] != 0:
        problems.append(f"{counts['dropped']} spans dropped")
    if errors != sent["error_traces"]:
        problems.append(f"{sent['error_traces']} failing traces sent, {errors} arrived")
    if problems:
        print("demo: FAILED: " + "; ".join(problems))
        return 1
    print("demo: OK: every span sent arrived at the OTLP receiver, and the counts add up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
