#!/usr/bin/env python3
"""The tailgate demo: tailgate-load -> tailgate (shared-memory ring, or UDP, receiver -> pipeline ->
OTLP/gRPC exporter) -> tailgate-sink, all on 127.0.0.1 with ports picked by the kernel. Prints what was sent,
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
import urllib.request


DECISION_WAIT_MS = 500


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


def span_metrics(text):
    """Per operation (service, span name) from tailgate's /metrics: calls, errors and the
    cumulative duration buckets {le: count}, summed over kinds and statuses."""
    ops = {}
    sample = re.compile(r'^(tailgate_span_(?:calls_total|errors_total|duration_seconds_bucket))'
                        r'\{(.*)\} (\S+)$')
    for line in text.splitlines():
        m = sample.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        op = ops.setdefault((labels["service_name"], labels["span_name"]),
                            {"calls": 0, "errors": 0, "buckets": {}})
        value = float(m.group(3))
        if m.group(1) == "tailgate_span_calls_total":
            op["calls"] += value
        elif m.group(1) == "tailgate_span_errors_total":
            op["errors"] += value
        else:
            le = float(labels["le"])
            op["buckets"][le] = op["buckets"].get(le, 0) + value
    return ops


def quantile(q, buckets):
    """Prometheus' histogram_quantile: linear within the bucket the rank falls in."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0
    if total == 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(buckets[bound] - below, 1e-9)
        lower, below = bound, buckets[bound]
    return lower


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
    ap.add_argument("--transport", choices=("ring", "udp"), default="ring",
                    help="how tailgate-load hands spans over (default: the shared-memory ring)")
    ap.add_argument("--fleet", action="store_true",
                    help="three agents, each trace split over them, sharing keeps through a "
                         "redis-server on loopback (tools/demo_fleet.py)")
    ap.add_argument("--peers", choices=("on", "off", "both"), default="both",
                    help="with --fleet: agents alone, with peers, or both runs (default)")
    args = ap.parse_args()
    if args.fleet:
        import demo_fleet
        return demo_fleet.main(args)

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
                # Default sampling policies; a shorter decision_wait only to keep the demo short.
                f.write("receivers:\n  udp:\n    endpoint: 127.0.0.1:0\n"
                        f"  ring:\n    directory: {tmp}/ring\n"
                        # The drop-in receivers (Jaeger's and OTLP's ports) are not needed here.
                        + "".join(f"  {n}:\n    enabled: false\n" for n in (
                            "jaeger_compact", "jaeger_binary", "otlp_grpc", "otlp_http",
                            "jaeger_sampling")) +
                        "admin:\n  endpoint: 127.0.0.1:0\n"
                        f"exporter:\n  endpoint: 127.0.0.1:{sink_port}\n"
                        "  max_batch_delay: 100ms\n"
                        f"sampling:\n  decision_wait: {DECISION_WAIT_MS}ms\n")
            agent = subprocess.Popen([agent_bin, "--config", config], stdout=subprocess.DEVNULL,
                                     stderr=logs["agent.err"])
            m = wait_for(os.path.join(tmp, "agent.err"),
                         r"receiver=udp endpoint=127\.0\.0\.1:(\d+)", 10)
            if not m:
                sys.exit("demo: the agent did not start:\n" + open(os.path.join(tmp, "agent.err")).read())
            udp_port = int(m.group(1))
            admin = wait_for(os.path.join(tmp, "agent.err"),
                             r"event=admin_listening endpoint=127\.0\.0\.1:(\d+)", 10)
            admin_port = int(admin.group(1))
            ring = os.path.join(tmp, "ring")
            print(f"demo: sink on 127.0.0.1:{sink_port} (OTLP/gRPC); agent reading the ring in "
                  f"{ring} and UDP on 127.0.0.1:{udp_port}")
            print(f"demo: sending {args.traces} trading-workflow traces at {args.rate:g}/s "
                  f"through the {'shared-memory ring' if args.transport == 'ring' else 'UDP receiver'} ...")
            via = (["--ring-directory", ring] if args.transport == "ring"
                   else ["--target", f"127.0.0.1:{udp_port}"])
            load = subprocess.run(
                [load_bin, *via, "--traces", str(args.traces),
                 "--rate", str(args.rate), "--error-fraction", str(args.error_fraction),
                 "--slow-fraction", str(args.slow_fraction), "--seed", "42", "--max-seconds", "120"],
                check=True, capture_output=True, text=True)
            sent = json.loads(load.stdout)
            # Let the last roots' decision_wait pass, so traces are decided as in production.
            time.sleep(DECISION_WAIT_MS / 1000 + 0.5)
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as r:
                operations = span_metrics(r.read().decode())
            agent_rc = stop(agent)
            agent = None
            stats = wait_for(os.path.join(tmp, "agent.err"), r"event=shutdown_complete (.*)", 5)
            agent_log = open(os.path.join(tmp, "agent.err")).read()
            sampling_line = re.search(r"event=shutdown_complete_sampling (.*)", agent_log)
            policy_lines = re.findall(r"event=shutdown_complete_policy policy=(\S+) "
                                      r"kept_traces=(\d+) sampled_out_traces=(\d+)", agent_log)
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

        # Why each kept trace was kept, from what the sink actually holds.
        traces = {}
        kept_spans = {}
        with open(jsonl) as f:
            for line in f:
                s = json.loads(line)
                kept_spans[s["name"]] = kept_spans.get(s["name"], 0) + 1
                t = traces.setdefault(s["trace_id"], {"error": False, "duration_ns": 0, "spans": 0,
                                                      "policy": s["attributes"].get("sampling.policy")})
                t["spans"] += 1
                t["error"] |= s["status"]["code"] == 2
                t["duration_ns"] = max(t["duration_ns"], s["end_unix_ns"] - s["start_unix_ns"])
        errors = sum(1 for t in traces.values() if t["error"])
        slow = sum(1 for t in traces.values() if not t["error"] and t["duration_ns"] > 100_000_000)
        incomplete = sum(1 for t in traces.values() if t["spans"] != 4)
        by_policy = {}
        for t in traces.values():
            by_policy[t["policy"]] = by_policy.get(t["policy"], 0) + 1

    print()
    print(f"  sent by tailgate-load     {sent['spans_sent']:>8} spans in {sent['traces_sent']} traces "
          f"({sent['error_traces']} failing, {sent['slow_traces']} slow) "
          + (f"over {sent['datagrams']} datagrams" if sent["transport"] == "udp"
             else f"through the ring ({sent['spans_not_sent']} dropped by full lanes)"))
    print(f"  received by the agent     {counts['received']:>8} spans")
    print(f"  sampled out (a decision)  {counts['sampled_out']:>8} spans")
    print(f"  lost before decoding      {counts['dropped_malformed'] + counts['dropped_kernel_buffer']:>8} "
          f"(malformed {counts['dropped_malformed']}, kernel buffer {counts['dropped_kernel_buffer']})")
    print(f"  dropped in the agent      {counts['dropped']:>8}")
    print(f"  exported (OTLP/gRPC)      {counts['exported']:>8} spans in {counts['export_requests_ok']} requests"
          f" ({counts['export_retries']} retries)")
    print(f"  arrived at the sink       {sink_summary['spans']:>8} spans in {len(traces)} traces")
    print()
    print("  decisions per policy (the highest matching probability wins):")
    print(f"    {'policy':<10} {'kept':>7} {'sampled out':>12} {'kept %':>7}")
    for name, kept, out in policy_lines:
        total = int(kept) + int(out)
        share = f"{100 * int(kept) / total:.1f}" if total else "-"
        print(f"    {name:<10} {kept:>7} {out:>12} {share:>7}")
    if sampling_line:
        triggers = dict(kv.split("=", 1) for kv in sampling_line.group(1).split())
        print("    decided by: " + ", ".join(f"{k} {v}" for k, v in triggers.items()
                                          if k in ("root", "timeout", "trace_cap", "memory", "stress",
                                                   "shutdown", "fast_path") and v != "0"))
    print()
    print(f"  kept at the sink, and why (sampling.policy on the spans): {len(traces)} traces")
    for name, n in sorted(by_policy.items(), key=lambda kv: -kv[1]):
        print(f"    {n:>6} {name}")
    print(f"    of which {errors} carry an error and {slow} more are slower than 100 ms; "
          f"{incomplete} arrived incomplete")
    print()
    print("  per operation: span metrics from every span before sampling (/metrics), next to "
          "the spans kept:")
    print(f"    {'service':<14} {'operation':<26} {'calls':>7} {'errors':>7} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'kept':>6}")
    for (service, name), op in sorted(operations.items()):
        print(f"    {service:<14} {name:<26} {op['calls']:>7.0f} {op['errors']:>7.0f} "
              f"{1000 * quantile(0.5, op['buckets']):>8.2f} "
              f"{1000 * quantile(0.99, op['buckets']):>8.2f} {kept_spans.get(name, 0):>6}")
    print()

    problems = []
    if agent_rc != 0:
        problems.append(f"the agent exited {agent_rc}")
    if sink_rc != 0:
        problems.append(f"the sink exited {sink_rc}")
    if sent["spans_not_sent"] != 0:
        problems.append(f"{sent['spans_not_sent']} spans not sent (lanes full, or send errors)")
    if sent["spans_sent"] != counts["received"]:
        problems.append(f"{sent['spans_sent']} spans sent but {counts['received']} received")
    if counts["received"] != counts["exported"] + counts["sampled_out"] + counts["dropped"]:
        problems.append("received != exported + sampled out + dropped")
    if counts["dropped"] != 0:
        problems.append(f"{counts['dropped']} spans dropped")
    if counts["exported"] != sink_summary["spans"]:
        problems.append(f"{counts['exported']} exported but {sink_summary['spans']} arrived")
    if errors != sent["error_traces"]:
        problems.append(f"{sent['error_traces']} failing traces sent, {errors} kept")
    if slow != sent["slow_only_traces"]:
        problems.append(f"{sent['slow_only_traces']} slow traces sent, {slow} kept")
    if incomplete:
        problems.append(f"{incomplete} kept traces arrived incomplete")
    counted = sum(op["calls"] for op in operations.values())
    if counted != counts["received"]:
        problems.append(f"span metrics counted {counted:.0f} spans, {counts['received']} received")
    if problems:
        print("demo: FAILED: " + "; ".join(problems))
        return 1
    print("demo: OK: every failing and every slow trace arrived whole, the rest was sampled by "
          "policy, and received = exported + sampled out + dropped (0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
