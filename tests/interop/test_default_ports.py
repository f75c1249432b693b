"""The guides' clients, left at their defaults, against an agent started with the shipped
config/tailgate.yaml plus one exporter endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, as a deployment
sets it): Debian's ruby-jaeger-client to localhost:6831 with its remote sampler asking
localhost:5778, and OpenTelemetry's JavaScript exporters at their default URLs (localhost:4317
gRPC, localhost:4318 HTTP). The ports are the real defaults, so these tests bind them; only the
ring directory and the admin port are moved (to a temp dir and a kernel-picked port). The
shipped sampling policies are kept too: each client's trace has an error span, which they keep."""

import json
import os
import re
import subprocess
import urllib.request

import pytest

from agent_stack import Stack

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED = os.path.join(HERE, "..", "..", "config", "tailgate.yaml")


@pytest.fixture
def stack(tmp_path):
    assert os.path.isdir(os.path.join(HERE, "node_modules")), \
        "npm packages missing: run tools/install-deps.sh"
    with open(SHIPPED) as f:
        text = f.read()
    moved = text.replace("directory: /dev/shm/tailgate", f"directory: {tmp_path}/ring") \
                .replace("endpoint: 127.0.0.1:14271", "endpoint: 127.0.0.1:0")
    assert moved.count("\n") == text.count("\n") and moved != text
    s = Stack(str(tmp_path), config_text=moved)
    yield s
    s.close()


def run_client(*command):
    # The client's environment has no OTEL_* (the agent's endpoint variable is not theirs).
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=HERE, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def metric(stack, name):
    port = re.search(r"event=admin_listening endpoint=127\.0\.0\.1:(\d+)", stack.log()).group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        m = re.search(rf"^{name} (\S+)$", r.read().decode(), re.M)
    return float(m.group(1)) if m else None


def test_jaeger_client_with_its_remote_sampler_at_the_default_ports(stack):
    with urllib.request.urlopen("http://localhost:5778/sampling?service=ruby-pricer",
                                timeout=10) as r:
        assert json.loads(r.read()) == {"strategyType": "PROBABILISTIC",
                                        "probabilisticSampling": {"samplingRate": 1.0}}
    made = run_client("ruby", "jaeger_ruby_client.rb", "6831", "guide")
    assert made["sampling_rate"] == 1.0  # left unanswered, the client samples 0.1%
    spans = {s["name"]: s for s in stack.spans(count=3, seconds=15)}
    assert set(spans) == {"quote", "price_lookup", "audit"}
    assert all(int(s["trace_id"], 16) == int(made["trace_id"], 16) for s in spans.values())
    assert spans["quote"]["attributes"]["sampling.policy"] == "error"
    # This test's request and the client's, at least (a client may poll again meanwhile).
    assert metric(stack, "tailgate_jaeger_sampling_requests_total") >= 2


@pytest.mark.parametrize("mode", ["grpc", "http-proto"])
def test_opentelemetry_sdk_at_its_default_urls(stack, mode):
    made = run_client("node", "otlp_node_client.js", mode, "default")
    spans = stack.spans(name="var_model", seconds=15)
    assert [s["trace_id"] for s in spans] == [made["trace_id"]]
    receiver = "otlp_grpc" if mode == "grpc" else "otlp_http"
    assert re.search(rf"receiver={receiver} endpoint=127\.0\.0\.1:{4317 if mode == 'grpc' else 4318}",
                     stack.log())
