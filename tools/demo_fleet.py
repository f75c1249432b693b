"""The fleet demo (tools/demo.py --fleet): three tailgate agents, as on three hosts, each beside
one process of a trading workflow (strategy, gateway, risk), every trace split over the three;
with a real redis-server on loopback they share keep decisions (peers, docs/fleet.md). Only the
gateway's agent sees the failed or slow exchange call and the critical span name. Prints, from
what one tailgate-sink received from all three, how many kept traces arrived whole and how many
partial: first with each agent deciding alone, then with peers. Exits 1 if, with peers, a kept
trace arrived partial, a failing or slow trace is missing, or an agent's accounting is off.
"""
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from demo import stop, wait_for

DECISION_WAIT_MS = 500
PARTS = ("strategy", "gateway", "risk")
SPANS_PER_TRACE = 6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(tmp, password):
    """redis-server on loopback, no persistence; the password on stdin, not on its command line."""
    port = free_port()
    log = open(os.path.join(tmp, "redis.log"), "w")
    redis = subprocess.Popen(
        ["redis-server", "-", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", tmp], stdin=subprocess.PIPE, stdout=log, stderr=log)
    redis.stdin.write(f"requirepass {password}\n".encode())
    redis.stdin.close()
    if not wait_for(os.path.join(tmp, "redis.log"), r"Ready to accept connections", 10):
        sys.exit("demo: redis-server did not start:\n" + open(os.path.join(tmp, "redis.log")).read())
    return redis, port


def redis_cpu_seconds(port, password):
    """Redis's own user+sys CPU seconds so far (INFO cpu)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"AUTH {password}\r\nINFO cpu\r\n".encode())
        data = b""
        while data.count(b"used_cpu_user:") == 0 or not data.endswith(b"\r\n\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    text = data.decode()
    return sum(float(v) for v in re.findall(r"^used_cpu_(?:user|sys):([\d.]+)", text, re.M))


def agent_config(tmp, name, sink_port, redis_port):
    path = os.path.join(tmp, f"{name}.yaml")
    with open(path, "w") as f:
        f.write("receivers:\n  ring:\n    enabled: false\n  udp:\n    endpoint: 127.0.0.1:0\n"
                # Several agents on one host: the drop-in receivers' fixed ports would clash.
                + "".join(f"  {n}:\n    enabled: false\n" for n in (
                    "jaeger_compact", "jaeger_binary", "otlp_grpc", "otlp_http",
                    "jaeger_sampling")) +
                "admin:\n  endpoint: 127.0.0.1:0\n"
                f"exporter:\n  endpoint: 127.0.0.1:{sink_port}\n  max_batch_delay: 100ms\n"
                f"sampling:\n  decision_wait: {DECISION_WAIT_MS}ms\n")
        if redis_port:
            f.write(f"peers:\n  enabled: true\n  endpoint: 127.0.0.1:{redis_port}\n"
                    f"  password_env: TAILGATE_REDIS_PASSWORD\n  agent_id: {name}\n")
    return path


def metric(text, name, labels=""):
    m = re.search(rf"^{re.escape(name)}{re.escape('{' + labels + '}' if labels else '')} (\S+)$",
                  text, re.M)
    return int(float(m.group(1))) if m else 0


def run(args, bins, with_peers):
    """One run; returns what was sent, the traces at the sink, each agent's stats, and Redis's
    CPU seconds for the load (less its idle rate)."""
    with tempfile.TemporaryDirectory(prefix="tailgate-fleet-") as tmp:
        procs, agents = [], {}
        password = secrets.token_hex(16)
        env = dict(os.environ, TAILGATE_REDIS_PASSWORD=password)
        try:
            redis_port = None
            if with_peers:
                redis, redis_port = start_redis(tmp, password)
                procs.append(redis)
            jsonl = os.path.join(tmp, "kept.jsonl")
            sink_err = os.path.join(tmp, "sink.err")
            sink = subprocess.Popen([bins["sink"], "--listen", "127.0.0.1:0", "--jsonl", jsonl],
                                    stdout=open(os.path.join(tmp, "sink.out"), "w"),
                                    stderr=open(sink_err, "w"))
            procs.append(sink)
            m = wait_for(sink_err, r"on port (\d+)", 10)
            if not m:
                sys.exit("demo: tailgate-sink did not start")
            for name in PARTS:
                log = os.path.join(tmp, f"{name}.err")
                p = subprocess.Popen([bins["agent"], "--config",
                                      agent_config(tmp, name, m.group(1), redis_port)],
                                     stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)
                procs.append(p)
                agents[name] = {"proc": p, "log": log}
            for name, a in agents.items():
                udp = wait_for(a["log"], r"receiver=udp endpoint=127\.0\.0\.1:(\d+)", 10)
                admin = wait_for(a["log"], r"event=admin_listening endpoint=127\.0\.0\.1:(\d+)", 10)
                if not udp or not admin:
                    sys.exit(f"demo: agent {name} did not start:\n" + open(a["log"]).read())
                a["udp"], a["admin"] = int(udp.group(1)), int(admin.group(1))
                # Sharing starts once both connections are up (the agent does not wait for them).
                for c in ("publish", "follow") if with_peers else ():
                    if not wait_for(a["log"], rf"peers_redis_connected connection={c}", 10):
                        sys.exit(f"demo: agent {name} did not reach Redis:\n" + open(a["log"]).read())
            targets = ",".join(f"127.0.0.1:{agents[n]['udp']}" for n in PARTS)
            # Redis's idle cost (three followers blocked, its own cron), to set apart below.
            idle = 0
            if with_peers:
                idle = redis_cpu_seconds(redis_port, password)
                time.sleep(1)
                idle = redis_cpu_seconds(redis_port, password) - idle
            cpu_before = redis_cpu_seconds(redis_port, password) if with_peers else 0
            load_started = time.monotonic()
            load = subprocess.run(
                [bins["load"], "--fleet-targets", targets, "--traces", str(args.traces),
                 "--rate", str(args.rate), "--error-fraction", str(args.error_fraction),
                 "--slow-fraction", str(args.slow_fraction), "--seed", "42",
                 "--max-seconds", "120"], check=True, capture_output=True, text=True)
            sent = json.loads(load.stdout)
            # decision_wait for the last roots, then time for their keeps to go round.
            time.sleep(DECISION_WAIT_MS / 1000 + 1.5)
            # The load's share of Redis's CPU: what it used, less the idle rate over that time.
            redis_cpu = (redis_cpu_seconds(redis_port, password) - cpu_before
                         - idle * (time.monotonic() - load_started)) if with_peers else 0
            for name, a in agents.items():
                url = f"http://127.0.0.1:{a['admin']}/metrics"
                with urllib.request.urlopen(url, timeout=10) as r:
                    a["metrics"] = r.read().decode()
            for a in agents.values():
                a["rc"] = stop(a["proc"])
                line = wait_for(a["log"], r"event=shutdown_complete (.*)", 5)
                a["counts"] = ({k: int(v) for k, v in (kv.split("=", 1)
                                                        for kv in line.group(1).split())}
                               if line else None)
            sink_rc = stop(sink)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        traces = {}
        with open(jsonl) as f:
            for line in f:
                s = json.loads(line)
                t = traces.setdefault(s["trace_id"], {"spans": 0, "error": False, "slow": False,
                                                      "critical": False, "policies": set()})
                t["spans"] += 1
                t["error"] |= s["status"]["code"] == 2
                t["slow"] |= s["end_unix_ns"] - s["start_unix_ns"] > 100_000_000
                t["critical"] |= s["name"].startswith("api.exchange.")
                t["policies"].add(s["attributes"].get("sampling.policy"))
        if sink_rc != 0:
            sys.exit(f"demo: the sink exited {sink_rc}")
        return sent, traces, agents, redis_cpu


def report(title, sent, traces, agents, redis_cpu, with_peers):
    kinds = {"failing": lambda t: t["error"], "slow": lambda t: t["slow"] and not t["error"],
             "critical": lambda t: t["critical"] and not t["error"] and not t["slow"],
             "other (base)": lambda t: not (t["error"] or t["slow"] or t["critical"])}
    print(f"\n  {title}")
    print(f"    {'kept traces':<16} {'at the sink':>11} {'whole':>7} {'partial':>8}")
    for kind, match in kinds.items():
        ts = [t for t in traces.values() if match(t)]
        whole = sum(1 for t in ts if t["spans"] == SPANS_PER_TRACE)
        print(f"    {kind:<16} {len(ts):>11} {whole:>7} {len(ts) - whole:>8}")
    whole = sum(1 for t in traces.values() if t["spans"] == SPANS_PER_TRACE)
    print(f"    {'all':<16} {len(traces):>11} {whole:>7} {len(traces) - whole:>8}")
    if with_peers:
        total_published = 0
        print(f"    {'agent':<10} {'published':>9} {'received':>9} {'followed':>9} "
              f"{'rescued':>8} {'too late':>8} {'lost':>5}")
        for name, a in agents.items():
            t = a["metrics"]
            lost = sum(metric(t, "tailgate_peer_keeps_lost_total", f'reason="{r}"') for r in
                       ("publish_queue_full", "publish_failed", "follow_queue_full", "malformed"))
            published = metric(t, "tailgate_peer_keeps_total", 'direction="published"')
            received = metric(t, "tailgate_peer_keeps_total", 'direction="received"')
            followed = metric(t, "tailgate_peer_traces_followed_total")
            rescued = metric(t, "tailgate_peer_spans_rescued_total")
            late = metric(t, "tailgate_peer_spans_too_late_total")
            print(f"    {name:<10} {published:>9} {received:>9} {followed:>9} {rescued:>8} "
                  f"{late:>8} {lost:>5}")
            total_published = total_published + published
        print(f"    Redis: {1000 * redis_cpu:.0f} ms of CPU (above idle) for {total_published} keeps published "
              f"and read by the {len(agents) - 1} other agents"
              + (f" ({1e6 * redis_cpu / total_published:.0f} us a keep)" if total_published else ""))
    problems = []
    for name, a in agents.items():
        c = a["counts"]
        if a["rc"] != 0 or c is None:
            problems.append(f"agent {name} exited {a['rc']}")
        elif c["received"] != c["exported"] + c["sampled_out"] + c["dropped"]:
            problems.append(f"agent {name}: received != exported + sampled out + dropped")
    received = sum(a["counts"]["received"] for a in agents.values() if a["counts"])
    if received != sent["spans_sent"]:
        problems.append(f"{sent['spans_sent']} spans sent, {received} received")
    return problems


def main(args):
    bins = {"agent": os.path.join(args.build_dir, "agent", "tailgate"),
            "sink": os.path.join(args.build_dir, "tools", "tailgate-sink"),
            "load": os.path.join(args.build_dir, "tools", "tailgate-load")}
    for b in bins.values():
        if not os.access(b, os.X_OK):
            sys.exit(f"demo: {b} is missing; build first (tools/demo.sh --fleet does)")
    print(f"demo: {args.traces} traces at {args.rate:g}/s, each split over three agents "
          f"({', '.join(PARTS)}; {SPANS_PER_TRACE} spans: 2 each), "
          f"{args.error_fraction:.0%} failing and {args.slow_fraction:.0%} slow at the gateway, "
          "20% orders (api.exchange.place_order, critical, at the gateway)")
    problems = []
    if args.peers in ("off", "both"):
        sent, traces, agents, _ = run(args, bins, False)
        problems += report("alone: each agent decides on its part", sent, traces, agents, 0, False)
    if args.peers in ("on", "both"):
        sent, traces, agents, redis_cpu = run(args, bins, True)
        problems += report("peers: keeps shared through redis-server on 127.0.0.1", sent, traces,
                           agents, redis_cpu, True)
        partial = sum(1 for t in traces.values() if t["spans"] != SPANS_PER_TRACE)
        failing = sum(1 for t in traces.values() if t["error"])
        slow = sum(1 for t in traces.values() if t["slow"] and not t["error"])
        if partial:
            problems.append(f"with peers, {partial} kept traces arrived partial")
        if failing != sent["error_traces"]:
            problems.append(f"{sent['error_traces']} failing traces sent, {failing} kept")
        if slow != sent["slow_only_traces"]:
            problems.append(f"{sent['slow_only_traces']} slow traces sent, {slow} kept")
    print()
    if problems:
        print("demo: FAILED: " + "; ".join(problems))
        return 1
    print("demo: OK" + (": with peers every kept trace arrived whole" if args.peers != "off"
                        else ""))
    return 0
