"""The Grafana dashboard and the Prometheus rules name only metrics the real agent exports
(tools/check_dashboard.py against a running agent's /metrics), and the check catches a name that
is not exported."""

import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CHECK = os.path.join(ROOT, "tools", "check_dashboard.py")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "tailgate.json")
RULES = os.path.join(ROOT, "deploy", "prometheus", "tailgate-rules.yml")
AGENT = os.environ["TAILGATE_AGENT_BIN"]


def check(*args):
    return subprocess.run([sys.executable, CHECK, "--agent", AGENT, *args],
                          capture_output=True, text=True, timeout=60)


def test_shipped_dashboard_and_rules_name_exported_metrics():
    r = check(DASHBOARD, "--rules", RULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 problems" in r.stdout
    # The dashboard covers the agent, its process and the span metrics.
    text = open(DASHBOARD).read()
    for name in ("tailgate_spans_received_total", "tailgate_spans_dropped_total",
                 "process_cpu_seconds_total", "tailgate_build_info",
                 "tailgate_span_duration_seconds_bucket", "tailgate_span_calls_total"):
        assert name in text, name


def test_a_metric_the_agent_does_not_export_fails(tmp_path):
    dash = json.load(open(DASHBOARD))
    target = dash["panels"][1]["targets"][0]
    target["expr"] = target["expr"].replace("tailgate_spans_received_total",
                                            "tailgate_spans_recieved_total")
    # `up` is Prometheus' own: fine in an alert rule, not a metric of the agent.
    dash["panels"][2]["targets"].append({"refId": "Z", "expr": "sum(up) + process_cpu_seconds"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dash))
    r = check(str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "tailgate_spans_recieved_total is not a metric the agent exports" in r.stdout
    assert "up is not a metric" in r.stdout
    assert "process_cpu_seconds is not a metric" in r.stdout
    assert " 3 problems" in r.stdout
