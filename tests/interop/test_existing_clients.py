"""Clients that trading teams already run, unchanged, against the real agent and tailgate-sink:
Debian's ruby-jaeger-client (Thrift compact to the 6831-style receiver), the npm jaeger-client
(Thrift binary, 6832-style), and OpenTelemetry's JavaScript SDK with its OTLP exporters (gRPC with
gzip, HTTP protobuf with gzip, HTTP JSON). Every span must reach the sink mapped as README's "Use
tailgate with your existing client" promises. Ports are picked by the kernel; versions are pinned
in package.json / package-lock.json and by Debian 12."""

import json
import os
import socket
import subprocess

import pytest

from agent_stack import Stack, drop_ins_on_free_ports

HERE = os.path.dirname(os.path.abspath(__file__))
DROP_IN = ("  jaeger_compact:\n    enabled: true\n    endpoint: 127.0.0.1:0\n"
           "  jaeger_binary:\n    enabled: true\n    endpoint: 127.0.0.1:0\n"
           "  otlp_grpc:\n    enabled: true\n    endpoint: 127.0.0.1:0\n"
           "  otlp_http:\n    enabled: true\n    endpoint: 127.0.0.1:0\n")


@pytest.fixture
def stack(tmp_path):
    assert os.path.isdir(os.path.join(HERE, "node_modules")), \
        "npm packages missing: run tools/install-deps.sh"
    s = Stack(str(tmp_path), DROP_IN)
    yield s
    s.close()


def run_client(*command):
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=HERE)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def by_name(spans):
    return {s["name"]: s for s in spans}


def test_ruby_jaeger_client_over_thrift_compact(stack):
    made = run_client("ruby", "jaeger_ruby_client.rb", str(stack.port("jaeger_compact")))
    spans = by_name(stack.spans(count=3))
    assert set(spans) == {"quote", "price_lookup", "audit"}
    trace = int(made["trace_id"], 16)  # a 64-bit id: the high half is zero
    for s in spans.values():
        assert int(s["trace_id"], 16) == trace and len(s["trace_id"]) == 32
        assert s["resource"]["service.name"] == "ruby-pricer"
        assert s["resource"]["team"] == "pricing"  # process tags → resource
        assert s["resource"]["jaeger.version"] == "Ruby-1.3.0"
    quote, lookup, audit = spans["quote"], spans["price_lookup"], spans["audit"]
    assert int(quote["span_id"], 16) == int(made["spans"]["quote"], 16)
    assert quote["parent_span_id"] == ""
    assert quote["kind"] == 2  # span.kind=server
    assert {k: quote["attributes"][k] for k in ("symbol", "qty", "px", "firm")} == \
        {"symbol": "BTCUSDT", "qty": 5, "px": 101.5, "firm": True}
    assert quote["end_unix_ns"] > quote["start_unix_ns"]
    assert int(lookup["parent_span_id"], 16) == int(made["spans"]["quote"], 16)
    assert lookup["status"]["code"] == 2  # error=true
    assert "error" not in lookup["attributes"]
    assert lookup["attributes"]["venue"] == "XNAS"
    assert lookup["events"] == [{"name": "cache_miss", "time_unix_ns": lookup["events"][0]["time_unix_ns"],
                                 "attributes": {"key": "BTCUSDT", "attempt": 2}}]
    assert quote["start_unix_ns"] <= lookup["events"][0]["time_unix_ns"] <= quote["end_unix_ns"]
    assert [(int(l["span_id"], 16), l["attributes"]["opentracing.ref_type"])
            for l in audit["links"]] == [(int(made["spans"]["quote"], 16), "follows_from")]


def test_node_jaeger_client_over_thrift_binary(stack):
    made = run_client("node", "jaeger_node_client.js", str(stack.port("jaeger_binary")))
    spans = by_name(stack.spans(count=2))
    assert set(spans) == {"route_order", "venue_select"}
    root, child = spans["route_order"], spans["venue_select"]
    assert root["trace_id"] == child["trace_id"] == made["trace_id"].rjust(32, "0")  # 128-bit
    assert root["span_id"] == made["spans"]["route_order"].rjust(16, "0")
    assert root["kind"] == 2
    assert root["attributes"]["symbol"] == "ETHUSDT"
    assert root["attributes"]["urgent"] is False
    assert child["parent_span_id"] == root["span_id"]
    assert child["status"]["code"] == 2
    assert child["events"][0]["name"] == "venue_rejected"
    assert child["events"][0]["attributes"] == {"venue": "XLON"}
    assert root["resource"]["service.name"] == "node-router"
    assert root["resource"]["team"] == "routing"


@pytest.mark.parametrize("mode,receiver", [("grpc", "otlp_grpc"), ("http-proto", "otlp_http"),
                                           ("http-json", "otlp_http")])
def test_opentelemetry_js_sdk_over_otlp(stack, mode, receiver):
    made = run_client("node", "otlp_node_client.js", mode, str(stack.port(receiver)))
    spans = by_name(stack.spans(count=4))
    assert set(spans) == {"snapshot_positions", "check_limits", "var_model", "fetch_prices"}
    root, child, call = spans["check_limits"], spans["var_model"], spans["fetch_prices"]
    for s in (root, child, call):
        assert s["trace_id"] == made["trace_id"]
        assert s["resource"]["service.name"] == "node-risk"
        assert s["resource"]["service.version"] == "2.4.1"
        assert s["resource"]["deployment.environment"] == "interop"
        assert s["resource"]["telemetry.sdk.language"] == "nodejs"
        assert s["scope"] == {"name": "risk-engine", "version": "1.2.0"}
    assert root["span_id"] == made["spans"]["check_limits"]
    assert root["parent_span_id"] == ""
    assert root["kind"] == 2 and call["kind"] == 3 and child["kind"] == 1
    assert {k: root["attributes"][k] for k in ("order.id", "order.qty", "order.px", "order.ioc")} \
        == {"order.id": "ORD-7", "order.qty": 250, "order.px": 99.75, "order.ioc": True}
    assert child["parent_span_id"] == root["span_id"]
    assert call["parent_span_id"] == root["span_id"]
    assert child["status"] == {"code": 2, "message": "limit breached"}
    assert child["events"][0]["name"] == "recomputed"
    assert child["events"][0]["attributes"] == {"positions": 12}
    assert child["attributes"]["risk.books"] == ["fx", "rates"]  # an OTLP array, kept
    assert [(l["trace_id"], l["span_id"], l["attributes"]) for l in child["links"]] == \
        [(made["earlier"]["trace_id"], made["earlier"]["span_id"], {"link.reason": "positions"})]
    # (The SDK's clock mixes millisecond epoch time with a monotonic offset, so only each span's
    # own start and end are compared.)
    for s in (root, child, call):
        assert s["end_unix_ns"] >= s["start_unix_ns"] > 0


def test_a_taken_port_and_an_export_loop_are_refused_at_start(tmp_path):
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    cases = [
        (f"receivers:\n  udp: {{enabled: false}}\n  ring: {{enabled: false}}\n"
         f"  jaeger_compact: {{enabled: true, endpoint: '127.0.0.1:{port}'}}\n"
         + drop_ins_on_free_ports("  jaeger_compact:") +
         "admin: {enabled: false}\nexporter: {endpoint: '127.0.0.1:1'}\n",
         f"receivers.jaeger_compact.endpoint 127.0.0.1:{port}"),
        ("receivers:\n  udp: {enabled: false}\n  ring: {enabled: false}\n"
         "  otlp_grpc: {enabled: true, endpoint: '127.0.0.1:4317'}\n"
         "admin: {enabled: false}\nexporter: {endpoint: 'localhost:4317'}\n",
         "is this agent's own receivers.otlp_grpc.endpoint"),
    ]
    try:
        for i, (config, message) in enumerate(cases):
            path = tmp_path / f"c{i}.yaml"
            path.write_text(config)
            out = subprocess.run([os.environ["TAILGATE_AGENT_BIN"], "--config", str(path)],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode != 0
            assert message in out.stderr, out.stderr
    finally:
        taken.close()
