#!/usr/bin/env python3
"""The end-to-end suite: the real agent between tailgate-load (the producer, through the ring or
UDP) and tailgate-sink (a real OTLP/gRPC receiver), on 127.0.0.1, every run bounded in time.
Measures what issue "Performance" asks and prints one table; --json writes it.

  - agent throughput, producer blasting: spans/s ingested and decided at the default policies,
    exported at 100% keep, and ingested with everything sampled out (the agent's own ceiling);
    agent CPU seconds per million spans (/proc), peak RSS (VmHWM)
  - latency of a kept trace, root end to arrival at the sink, p50/p99, default and short
    decision_wait
  - offered 50k / 200k / 1M spans/s for a few seconds each: where dropping starts, and whether
    every drop is counted (producer drops + agent drops = offered - received)
  - agent CPU per span as traces grow (1, 10, 100 spans) and as attributes grow (0, 6, 24)
  - the same load over the ring and over UDP, side by side: agent and producer CPU per span

Usage: e2e_bench.py --build-dir DIR [--quick] [--json FILE]
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from demo import wait_for  # noqa: E402  (tools/demo.py: polls a log file for a pattern)

CLK_TCK = os.sysconf("SC_CLK_TCK")
KEEP_ALL = "  policies: [{name: all, type: base, probability: 1.0}]\n"
DROP_ALL = "  policies: [{name: none, type: base, probability: 0.0}]\n"


class Stack:
    """tailgate-sink and the agent, in a temp dir, with kernel-picked ports."""

    def __init__(self, build, tmp, sampling="", jsonl=False, udp=False, otlp_grpc=False,
                 max_trace_age="3s"):
        self.tmp = tmp
        self.ring = os.path.join(tmp, "ring")
        self.jsonl = os.path.join(tmp, "spans.jsonl") if jsonl else None
        sink_cmd = [os.path.join(build, "tools", "tailgate-sink"), "--listen", "127.0.0.1:0"]
        if self.jsonl:
            sink_cmd += ["--jsonl", self.jsonl]
        self.sink = subprocess.Popen(sink_cmd, stdout=open(os.path.join(tmp, "sink.out"), "w"),
                                     stderr=open(os.path.join(tmp, "sink.err"), "w"))
        m = wait_for(os.path.join(tmp, "sink.err"), r"on port (\d+)", 10)
        assert m, "tailgate-sink did not start"
        config = os.path.join(tmp, "tailgate.yaml")
        with open(config, "w") as f:
            f.write("receivers:\n"
                    f"  udp: {{enabled: {'true' if udp else 'false'}, endpoint: '127.0.0.1:0',"
                    " socket_buffer: 32MiB}\n"
                    f"  ring: {{directory: {self.ring}, scan_interval: 50ms}}\n"
                    + ("  otlp_grpc: {enabled: true, endpoint: '127.0.0.1:0'}\n" if otlp_grpc
                       else "") +
                    "admin: {endpoint: '127.0.0.1:0'}\n"
                    f"exporter: {{endpoint: '127.0.0.1:{m.group(1)}', max_batch_delay: 50ms}}\n"
                    "span_metrics: {enabled: true}\n"
                    # Traces whose root a full lane dropped wait max_trace_age: short here, so
                    # that a run ends soon after its load does.
                    f"sampling:\n  max_trace_age: {max_trace_age}\n" + sampling)
        log = os.path.join(tmp, "agent.err")
        self.agent = subprocess.Popen([os.path.join(build, "agent", "tailgate"), "--config", config],
                                      stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        m = wait_for(log, r"event=admin_listening endpoint=(\S+)", 10)
        assert m, open(log).read()
        self.admin = m.group(1)
        self.udp = None
        if udp:
            self.udp = wait_for(log, r"receiver=udp endpoint=(\S+)", 10).group(1)

    def metrics(self):
        out = {}
        with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("#") or not line:
                    continue
                name = line.split("{", 1)[0].split(" ", 1)[0]
                value = float(line.rsplit(" ", 1)[1])
                out[name] = out.get(name, 0.0) + value
                if "{" in line:
                    out[line.rsplit(" ", 1)[0]] = value
        return out

    def cpu_seconds(self):
        fields = open(f"/proc/{self.agent.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def peak_rss_mb(self):
        for line in open(f"/proc/{self.agent.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def settled(self, seconds=60):
        """Waits until every received span is exported, sampled out or dropped."""
        deadline = time.monotonic() + seconds
        while True:
            m = self.metrics()
            done = (m.get("tailgate_spans_exported_total", 0) +
                    m.get("tailgate_spans_sampled_out_total", 0) +
                    sum(v for k, v in m.items() if k.startswith("tailgate_spans_dropped_total{")
                        and not any(r in k for r in ("malformed", "kernel_buffer",
                                                      "producer_loss"))))
            if done >= m.get("tailgate_spans_received_total", 0) or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def close(self):
        for p in (self.agent, self.sink):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def load(build, stack, rate_spans, spans_per_trace, seconds, attributes=6, udp=False,
         slow=0.0, error=0.0, extra=()):
    cmd = [os.path.join(build, "tools", "tailgate-load"), "--spans-per-trace",
           str(spans_per_trace), "--attributes", str(attributes), "--traces", "1000000000",
           "--rate", str(rate_spans / spans_per_trace if rate_spans else 0), "--max-seconds",
           str(seconds), "--slow-fraction", str(slow), "--error-fraction", str(error),
           "--seed", "7", *extra]
    cmd += ["--target", stack.udp] if udp else ["--ring-directory", stack.ring]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def run(build, sampling, rate, spans_per_trace, seconds, attributes=6, udp=False, jsonl=False):
    began = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="tailgate-e2e-")
    stack = Stack(build, tmp, sampling, jsonl=jsonl, udp=udp)
    try:
        time.sleep(0.2)  # the ring receiver's first scan
        cpu0 = stack.cpu_seconds()
        t0 = time.monotonic()
        sent = load(build, stack, rate, spans_per_trace, seconds, attributes, udp)
        m = stack.settled()
        elapsed = time.monotonic() - t0
        cpu = stack.cpu_seconds() - cpu0
        received = m.get("tailgate_spans_received_total", 0)
        dropped = {k.split('reason="')[1].rstrip('"}'): v for k, v in m.items()
                   if k.startswith("tailgate_spans_dropped_total{") and v}
        made = sent["spans_sent"] + sent["spans_not_sent"]
        # Drops after a span was received (queue full, export failed...) versus before: in the
        # producer (lane full, counted by it and reported in LOSS records) or the kernel (UDP).
        before = ("malformed", "kernel_buffer", "producer_loss")
        after = sum(v for k, v in dropped.items() if k not in before)
        r = {
            "offered_spans_per_s": rate, "spans_per_trace": spans_per_trace,
            "attributes": attributes, "transport": "udp" if udp else "ring",
            "load_seconds": sent["seconds"], "spans_made": made,
            "producer_dropped": sent["spans_not_sent"], "received": received,
            "exported": m.get("tailgate_spans_exported_total", 0),
            "sampled_out": m.get("tailgate_spans_sampled_out_total", 0), "dropped": dropped,
            "dropped_fraction": (made - received + after) / made if made else 0.0,
            "received_per_s": received / sent["seconds"],
            "exported_per_s": m.get("tailgate_spans_exported_total", 0) / elapsed,
            "agent_cpu_s_per_million": cpu / received * 1e6 if received else None,
            "producer_cpu_ns_per_span": sent["cpu_seconds"] / max(1, made) * 1e9,
            "peak_rss_mb": stack.peak_rss_mb(),
        }
        # Every span made was received, or is counted as dropped by the producer (ring: the
        # agent's LOSS-record count says the same); over UDP the kernel counts datagrams only.
        r["all_drops_counted"] = (made - received == sent["spans_not_sent"] and
                                  (udp or dropped.get("producer_loss", 0) == sent["spans_not_sent"]))
        if udp and dropped.get("kernel_buffer"):
            r["all_drops_counted"] = None  # datagrams dropped by the kernel: spans unknown
        if jsonl:
            r["latency_ms"] = latency(stack)
        r["wall_seconds"] = time.monotonic() - began
        return r
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


def latency(stack):
    deadline = time.monotonic() + 10
    lat = []
    while time.monotonic() < deadline:
        lat = []
        with open(stack.jsonl, "rb") as f:  # one read: the sink may be mid-line
            text = f.read()
        for line in text.split(b"\n")[:-1]:  # the last piece is partial or empty
            s = json.loads(line)
            if s["parent_span_id"] == "":
                lat.append((s["arrived_unix_ns"] - s["end_unix_ns"]) / 1e6)
        if lat:
            break
        time.sleep(0.1)
    lat.sort()
    return {"p50": lat[len(lat) // 2], "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "traces": len(lat)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--quick", action="store_true", help="every case, 1 s of load each")
    ap.add_argument("--smoke", action="store_true", help="one case of each kind (CI)")
    ap.add_argument("--raw-ring-json", help="ring_bench's JSON: the raw ring's limit, for the "
                                            "ratio")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each case N times and report the median run (by CPU per span)")
    ap.add_argument("--json")
    a = ap.parse_args()
    b = a.build_dir
    secs = 0.5 if a.smoke else 1 if a.quick else 5
    rows = []
    full = not a.smoke
    # The default policies; the smoke run decides sooner so that it takes seconds.
    dflt = "  decision_wait: 100ms\n" if a.smoke else ""

    print(f"{'case':<44} {'recv/s':>8} {'exp/s':>8} {'cpu-s/M':>8} {'rss MB':>7} "
          f"{'dropped':>8} counted  note")

    def median_of(make):
        """The run with the median CPU per span of `repeat` runs of the same case."""
        runs = [make() for _ in range(max(1, a.repeat))]
        runs.sort(key=lambda r: r["agent_cpu_s_per_million"] or 0)
        chosen = runs[len(runs) // 2]
        chosen["runs"] = len(runs)
        chosen["cpu_s_per_million_all_runs"] = [r["agent_cpu_s_per_million"] for r in runs]
        return chosen

    def row(name, r, note=""):
        rows.append({"case": name, **r, "note": note})
        print(f"{name:<44} {r['received_per_s'] / 1e3:7.0f}k {r['exported_per_s'] / 1e3:7.1f}k "
              f"{r['agent_cpu_s_per_million'] or 0:8.2f} {r['peak_rss_mb']:7.0f} "
              f"{100 * r['dropped_fraction']:7.2f}% {str(r['all_drops_counted']):>7}  {note}"
              f" ({r['wall_seconds']:.0f} s)",
              flush=True)

    print("== throughput: producer as fast as it can, 10-span traces, 6 attributes")
    if full:
        row("default policies (ingest + decide)",
            median_of(lambda: run(b, dflt, 0, 10, secs)))
        row("100% keep (ingest + decide + export)",
            median_of(lambda: run(b, KEEP_ALL, 0, 10, secs)))
    ceiling = median_of(lambda: run(b, dflt + DROP_ALL, 0, 10, secs))
    note = ""
    if a.raw_ring_json and os.path.exists(a.raw_ring_json):
        raw = max(r.get("taken_per_s", 0) for r in json.load(open(a.raw_ring_json))["results"])
        if raw:
            ceiling["raw_ring_per_s"] = raw
            ceiling["ingest_over_raw_ring"] = ceiling["received_per_s"] / raw
            note = (f"raw ring (copy only) {raw / 1e6:.1f}M/s: agent "
                    f"{100 * ceiling['ingest_over_raw_ring']:.1f}% of it")
    row("all sampled out (the agent's ingest ceiling)", ceiling, note)

    print("== exported at 100% keep, offered rate")
    for rate in ((100_000, 250_000) if full else ()):
        row(f"100% keep, offered {rate // 1000}k spans/s",
            median_of(lambda: run(b, KEEP_ALL, rate, 10, secs)))

    print("== offered rate, default policies, 10-span traces")
    for rate in ((50_000, 200_000, 1_000_000) if full else (50_000,)):
        row(f"offered {rate // 1000}k spans/s", median_of(lambda: run(b, dflt, rate, 10, secs)))

    print("== latency, root end to arrival at the sink (100% keep, 200 traces/s of 4 spans)")
    for wait in (("2s", "100ms") if full else ("100ms",)):
        r = run(b, f"  decision_wait: {wait}\n" + KEEP_ALL, 800, 4, secs if a.smoke else 3,
                jsonl=True)
        row(f"decision_wait {wait}", r,
            f"latency p50 {r['latency_ms']['p50']:.0f} ms p99 {r['latency_ms']['p99']:.0f} ms")

    print("== cost as traces and attributes grow (default policies, 100k spans/s offered)")
    for n in ((1, 10, 100) if full else (100,)):
        row(f"{n} spans per trace", median_of(lambda: run(b, dflt, 100_000, n, secs)))
    for attrs in ((0, 24) if full else ()):
        row(f"10 spans per trace, {attrs} attributes",
            median_of(lambda: run(b, dflt, 100_000, 10, secs, attrs)))

    print("== ring and UDP side by side (default policies, 100k spans/s offered)")
    ring = median_of(lambda: run(b, dflt, 100_000, 10, secs))
    udp = median_of(lambda: run(b, dflt, 100_000, 10, secs, udp=True))
    row("ring", ring, f"producer {ring['producer_cpu_ns_per_span']:.0f} ns/span")
    row("udp", udp, f"producer {udp['producer_cpu_ns_per_span']:.0f} ns/span")

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": os.uname().nodename, "cores": os.cpu_count(), "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    sys.exit(main())
