"""The C and C++ examples (examples/c, examples/cpp), built as users build them, run against the
real agent and sink: every span each prints a trace for arrives with its parents, types, statuses
and resource. The binaries' paths come from ctest (TAILGATE_EXAMPLE_C_BIN, _CPP_BIN)."""

import json
import os
import subprocess
import tempfile

import pytest

from agent_stack import Stack  # tests/support: the real agent and sink in a temp dir


@pytest.fixture(scope="module")
def stack():
    with tempfile.TemporaryDirectory(prefix="tailgate-examples-") as tmp:
        s = Stack(tmp)
        yield s
        s.close()


def run(stack, variable, count):
    done = subprocess.run([os.environ[variable], str(count)], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, TAILGATE_RING_DIRECTORY=stack.ring))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def traces(spans):
    by_trace = {}
    for s in spans:
        by_trace.setdefault(s["trace_id"], {})[s["name"]] = s
    return by_trace


def test_the_c_example(stack):
    orders = run(stack, "TAILGATE_EXAMPLE_C_BIN", 6)
    assert len(orders) == 6
    spans = [s for s in stack.spans(count=12) if s["resource"]["service.name"] == "c-order-gateway"]
    by_trace = traces(spans)
    for order in orders:
        trace = by_trace[order["trace_id"]]
        root, child = trace["gateway.order.receive"], trace["gateway.order.validate"]
        assert root["parent_span_id"] == "" and root["kind"] == 2
        assert child["parent_span_id"] == root["span_id"] and child["kind"] == 1
        assert root["attributes"]["order.id"] == order["order"]
        assert root["attributes"]["order.accepted"] is order["accepted"]
        assert isinstance(child["attributes"]["order.quantity"], float)
        assert child["events"][0]["name"] == "limits.checked"
        if order["accepted"]:
            assert child["status"]["code"] == 0
        else:
            assert child["status"] == {"code": 2, "message": "quantity over the position limit"}
    assert {o["accepted"] for o in orders} == {True, False}


def test_the_cpp_example(stack):
    ticks = run(stack, "TAILGATE_EXAMPLE_CPP_BIN", 8)
    assert len(ticks) == 8
    spans = [s for s in stack.spans(count=24 + 12, seconds=10)
             if s["resource"]["service.name"] == "cpp-market-data"]
    by_trace = traces(spans)
    for tick in ticks:
        trace = by_trace[tick["trace_id"]]
        root, book, signal = (trace["md.tick.process"], trace["md.book.update"],
                              trace["strategy.signal"])
        assert root["parent_span_id"] == "" and root["kind"] == 5
        assert book["parent_span_id"] == root["span_id"]
        # Across the (simulated) process boundary: a remote parent from its traceparent.
        assert signal["parent_span_id"] == root["span_id"] and signal["kind"] == 2
        assert book["attributes"]["book.snapshot"].startswith(chr(ord("a") + tick["tick"] % 26))
        assert book["dropped_attributes_count"] == 0
        assert signal["attributes"]["signal.live"] is True
        assert root["resource"]["deployment.environment"] == "example"
        if tick["crossed"]:
            assert book["status"]["code"] == 2
            assert book["events"][1]["attributes"]["exception.message"] == "crossed book"
        else:
            assert root["status"]["code"] == 1 and book["status"]["code"] == 0
