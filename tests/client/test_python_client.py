"""The Python module through the real path: libtailgate.so -> a shared-memory segment -> the real
agent -> OTLP/gRPC -> the real tailgate-sink. Run by ctest (tests/CMakeLists.txt) with the paths
of the built binaries in the environment."""

import asyncio
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

import tailgate
from demo import wait_for  # tools/demo.py: polls a log file for a pattern

KEEP_ALL = ("sampling:\n  decision_wait: 100ms\n"
            "  policies: [{name: all, type: base, probability: 1.0}]\n")


class Stack:
    """tailgate-sink and the agent, on 127.0.0.1 with kernel-picked ports, in a temp dir."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.ring = os.path.join(tmp, "ring")
        self.jsonl = os.path.join(tmp, "spans.jsonl")
        self.sink = subprocess.Popen(
            [os.environ["TAILGATE_SINK_BIN"], "--listen", "127.0.0.1:0", "--jsonl", self.jsonl],
            stdout=open(os.path.join(tmp, "sink.out"), "w"),
            stderr=open(os.path.join(tmp, "sink.err"), "w"))
        m = wait_for(os.path.join(tmp, "sink.err"), r"on port (\d+)", 10)
        assert m, "tailgate-sink did not start"
        config = os.path.join(tmp, "tailgate.yaml")
        with open(config, "w") as f:
            f.write("receivers:\n  udp:\n    enabled: false\n"
                    f"  ring:\n    directory: {self.ring}\n    scan_interval: 50ms\n"
                    "admin:\n  endpoint: 127.0.0.1:0\n"
                    f"exporter:\n  endpoint: 127.0.0.1:{m.group(1)}\n  max_batch_delay: 50ms\n"
                    + KEEP_ALL)
        self.agent = subprocess.Popen([os.environ["TAILGATE_AGENT_BIN"], "--config", config],
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(tmp, "agent.err"), "w"))
        assert wait_for(os.path.join(tmp, "agent.err"), r"event=agent_ready", 10), self.log()

    def log(self):
        with open(os.path.join(self.tmp, "agent.err")) as f:
            return f.read()

    def spans(self, name=None, count=1, seconds=10):
        """Spans at the sink (those named `name`), waiting until there are `count`."""
        deadline = time.monotonic() + seconds
        while True:
            found = []
            if os.path.exists(self.jsonl):
                with open(self.jsonl) as f:
                    for line in f:
                        if line.endswith("}\n"):
                            s = json.loads(line)
                            if name is None or s["name"] == name:
                                found.append(s)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def close(self):
        for p in (self.agent, self.sink):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def stack():
    with tempfile.TemporaryDirectory(prefix="tailgate-py-") as tmp:
        s = Stack(tmp)
        yield s
        s.close()


@pytest.fixture(scope="module")
def tracer(stack):
    t = tailgate.Tracer("signal-bot", service_version="2.1.0", directory=stack.ring,
                        resource={"deployment.environment": "test"})
    assert t.error == ""
    yield t
    t.close()


def by_name(spans):
    return {s["name"]: s for s in spans}


def test_context_manager_span_with_attributes_and_events(stack, tracer):
    with tracer.span("signal_generation", symbol="BTCUSDT", strength=0.83, votes=3,
                     live=True) as s:
        s.set_attribute("signal.side", "buy")
        s.add_event("model.scored", model="momentum", score=0.9)
    [span] = stack.spans("signal_generation")
    assert span["attributes"] == {"symbol": "BTCUSDT", "strength": 0.83, "votes": 3, "live": True,
                                  "signal.side": "buy"} | {k: v for k, v in span["attributes"].items()
                                                             if k.startswith("sampling.")}
    assert span["events"][0]["name"] == "model.scored"
    assert span["events"][0]["attributes"] == {"model": "momentum", "score": 0.9}
    assert span["resource"]["service.name"] == "signal-bot"
    assert span["resource"]["service.version"] == "2.1.0"
    assert span["resource"]["deployment.environment"] == "test"
    assert span["resource"]["telemetry.sdk.language"] == "python"
    assert span["parent_span_id"] == ""
    assert 0 < span["end_unix_ns"] - span["start_unix_ns"] < 5_000_000_000


def test_nested_spans_are_parent_and_child(stack, tracer):
    with tracer.span("order.flow") as root:
        with tracer.span("risk.check") as child:
            assert tailgate.current_span() is child
        assert tailgate.current_span() is root
    assert tailgate.current_span() is None
    spans = by_name(stack.spans("order.flow") + stack.spans("risk.check"))
    assert spans["risk.check"]["trace_id"] == spans["order.flow"]["trace_id"]
    assert spans["risk.check"]["parent_span_id"] == spans["order.flow"]["span_id"]


def test_an_escaping_exception_is_recorded_with_its_stack_trace(stack, tracer):
    with pytest.raises(ValueError):
        with tracer.span("order.place"):
            raise ValueError("price out of band")
    [span] = stack.spans("order.place")
    assert span["status"]["code"] == 2
    assert "price out of band" in span["status"]["message"]
    [event] = span["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "price out of band"
    assert "Traceback" in event["attributes"]["exception.stacktrace"]
    assert "test_an_escaping_exception" in event["attributes"]["exception.stacktrace"]


def test_asyncio_tasks_keep_their_parent(stack, tracer):
    async def leg(name):
        with tracer.span(name):
            await asyncio.sleep(0.01)

    async def main():
        with tracer.span("async.root"):
            await asyncio.gather(leg("async.leg.a"), leg("async.leg.b"))

    asyncio.run(main())
    spans = by_name(stack.spans("async.root") + stack.spans("async.leg.a") +
                    stack.spans("async.leg.b"))
    root = spans["async.root"]
    for leg_name in ("async.leg.a", "async.leg.b"):
        assert spans[leg_name]["parent_span_id"] == root["span_id"]
        assert spans[leg_name]["trace_id"] == root["trace_id"]


def test_inject_and_extract_cross_a_process_boundary(stack, tracer):
    headers = {}
    with tracer.span("gateway.call", kind=tailgate.SpanKind.CLIENT):
        tracer.inject(headers)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", headers["traceparent"])
    incoming = tailgate.Tracer.extract({"TraceParent": headers["traceparent"]})
    with tracer.span("orders.handle", parent=incoming, kind=tailgate.SpanKind.SERVER):
        pass
    spans = by_name(stack.spans("gateway.call") + stack.spans("orders.handle"))
    assert spans["orders.handle"]["parent_span_id"] == spans["gateway.call"]["span_id"]
    assert spans["orders.handle"]["kind"] == 2


def test_w3c_examples():
    c = tailgate.SpanContext.from_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert c.trace_id_hex == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert c.span_id_hex == "00f067aa0ba902b7"
    assert c.traceparent() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for bad in ("00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                "garbage"):
        assert tailgate.SpanContext.from_traceparent(bad) is None, bad
    assert tailgate.SpanContext.from_traceparent(
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future") is not None


def test_spans_ended_in_one_batch_call(stack, tracer):
    spans = [tracer.span("batch.item", seq=i) for i in range(20)]
    assert tracer.end_all(spans) == 20
    assert tracer.end_all(spans) == 0  # ended already
    arrived = stack.spans("batch.item", count=20)
    assert sorted(s["attributes"]["seq"] for s in arrived) == list(range(20))
    assert tracer.stats()["dropped"] == 0
