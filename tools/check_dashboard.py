#!/usr/bin/env python3
"""Checks that every query of the Grafana dashboards and every expression of the Prometheus rules
names only metrics a running tailgate agent exports: a renamed metric breaks CI, not a panel that
goes blank in production. The names come from the /metrics of a real agent (--agent BIN, started
here on 127.0.0.1 with kernel-picked ports) or from a saved /metrics text (--metrics FILE).

  tools/check_dashboard.py --agent build/agent/tailgate deploy/grafana/tailgate.json \
      --rules deploy/prometheus/tailgate-rules.yml

Exit 0 when every name is known, 1 (listing each unknown name and its query) otherwise."""

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

# Series Prometheus makes itself, not the agent: allowed in rules (an agent that is down).
SYNTHETIC = {"up"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}


def exported_names(text):
    """Sample names in a /metrics text, with a histogram's _bucket, _sum and _count."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) in ("histogram", "summary"):
                names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
        elif line and not line.startswith("#"):
            names.add(re.match(r"[^{ ]+", line).group(0))
    return names


def metric_names(expr):
    """The metric names a PromQL expression (Grafana variables allowed) selects."""
    # label_values(metric_or_selector, label): only the first argument names a metric.
    expr = re.sub(r"label_values\(([^,)]*),[^)]*\)", r"\1", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)                  # $__rate_interval, ${instance}
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', " ", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", " ", expr)                     # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)                    # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b", " ", expr)  # numbers
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if m.group(0) in KEYWORDS or re.match(r"\s*\(", expr[m.end():]):
            continue  # a keyword or a function
        names.add(m.group(0))
    return names


def dashboard_queries(path):
    """(where, query) for every target and query variable of a Grafana dashboard."""
    with open(path) as f:
        dash = json.load(f)
    found = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    found.append((f'{path}: panel "{p.get("title")}" {t.get("refId")}', t["expr"]))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
            found.append((f"{path}: variable ${v['name']}", q))
    return found


def rule_queries(path):
    """(where, expr) for every rule, and the names the recording rules define."""
    import yaml  # Debian: python3-yaml (ships with python3-pytest's dependencies)
    with open(path) as f:
        doc = yaml.safe_load(f)
    found, recorded = [], set()
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            found.append((f"{path}: {name}", str(rule["expr"])))
            if "record" in rule:
                recorded.add(rule["record"])
    return found, recorded


def running_agent_metrics(agent):
    """/metrics of the real agent, started on loopback ports and stopped again."""
    with tempfile.TemporaryDirectory(prefix="tailgate-dashboard-") as tmp:
        config = os.path.join(tmp, "tailgate.yaml")
        with open(config, "w") as f:
            f.write("receivers:\n  udp:\n    endpoint: 127.0.0.1:0\n"
                    f"  ring:\n    directory: {tmp}/ring\n"
                    "admin:\n  endpoint: 127.0.0.1:0\n"
                    "exporter:\n  endpoint: 127.0.0.1:9\n"  # discard: nothing is exported
                    "span_metrics:\n  enabled: true\n")
        log = os.path.join(tmp, "agent.err")
        with open(log, "w") as err:
            proc = subprocess.Popen([agent, "--config", config], stdout=subprocess.DEVNULL,
                                    stderr=err)
        try:
            deadline = time.monotonic() + 15
            port = None
            while port is None and time.monotonic() < deadline and proc.poll() is None:
                with open(log) as f:
                    m = re.search(r"event=admin_listening endpoint=127\.0\.0\.1:(\d+)", f.read())
                port = m and m.group(1)
                time.sleep(0.05)
            if port is None:
                with open(log) as f:
                    sys.exit("check_dashboard: the agent did not start:\n" + f.read())
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                return r.read().decode()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--agent", help="the tailgate binary: start it and read its /metrics")
    src.add_argument("--metrics", help="a saved /metrics text")
    ap.add_argument("--rules", action="append", default=[], help="Prometheus rule files")
    ap.add_argument("dashboards", nargs="*", help="Grafana dashboard JSON files")
    a = ap.parse_args()
    if a.agent:
        text = running_agent_metrics(a.agent)
    else:
        with open(a.metrics) as f:
            text = f.read()
    known = exported_names(text)
    queries = []
    for d in a.dashboards:
        queries += dashboard_queries(d)
    allowed = set()
    for r in a.rules:
        found, recorded = rule_queries(r)
        queries += found
        allowed |= recorded | SYNTHETIC
    bad = 0
    for where, q in queries:
        names = metric_names(q)
        unknown = sorted(n for n in names if n not in known and n not in allowed)
        if not names:
            print(f"{where}: names no metric: {q}")
            bad += 1
        for n in unknown:
            print(f"{where}: {n} is not a metric the agent exports: {q}")
            bad += 1
    print(f"check_dashboard: {len(queries)} queries, {len(known)} exported names, "
          f"{bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
