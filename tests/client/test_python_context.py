"""The Python client's trace context through the real path (libtailgate.so -> segment -> the real
agent -> the real sink): W3C traceparent and tracestate across a process boundary, and trace and
span ids in logs. Run by ctest with tailgate._native's span and with the pure-Python one."""

import json
import re

import pytest

import tailgate
from agent_stack import by_name  # tests/support


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


def test_inject_extract_round_trip_with_the_w3c_example_and_tracestate(stack, tracer):
    incoming = {"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}
    parent = tailgate.extract_context(incoming)
    assert parent.trace_id_hex == "4bf92f3577b34da6a3ce929d0e0e4736"
    outgoing = {}
    with tracer.span("orders.gateway.forward", parent=parent, kind=tailgate.SpanKind.SERVER):
        assert tailgate.inject_context(outgoing) is outgoing
    assert outgoing["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert outgoing["traceparent"].endswith("-01")
    assert outgoing["traceparent"][36:52] != "00f067aa0ba902b7"  # our span is the new parent
    assert outgoing["tracestate"] == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    [span] = stack.spans("orders.gateway.forward")
    assert span["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["parent_span_id"] == "00f067aa0ba902b7"
    assert span["span_id"] == outgoing["traceparent"][36:52]
    # The agent adds its sampling entry (ot=th:...) in front, as W3C has new entries go.
    assert span["trace_state"].endswith("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"), span
    # Frameworks that give header lists, and headers without a (valid) traceparent.
    assert tailgate.extract_context({"traceparent": [incoming["Traceparent"]]}) is not None
    assert tailgate.extract_context({"traceparent": "00-xyz"}) is None
    assert tailgate.extract_context({}) is None
    assert tailgate.inject_context({}) == {}  # no current span: nothing to pass on


# --- logs -----------------------------------------------------------------------------------

def test_the_log_filter_adds_trace_and_span_ids(tracer):
    import io
    import logging
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(tailgate.TraceContextFilter())
    handler.setFormatter(logging.Formatter("%(trace_id)s %(span_id)s %(message)s"))
    log = logging.getLogger("test.trading")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with tracer.span("logged.span") as s:
            log.info("inside")
        log.info("outside")
    finally:
        log.removeHandler(handler)
    inside, outside = out.getvalue().splitlines()
    assert inside == f"{s.context.trace_id_hex} {s.context.span_id_hex} inside"
    assert re.fullmatch(r"[0-9a-f]{32} [0-9a-f]{16} inside", inside)
    assert outside == "  outside"


def test_the_structlog_processor_adds_trace_and_span_ids(tracer):
    structlog = pytest.importorskip("structlog")  # Debian's python3-structlog: install-deps.sh
    import io
    out = io.StringIO()
    structlog.configure(processors=[tailgate.structlog_processor,
                                    structlog.processors.JSONRenderer(sort_keys=True)],
                        logger_factory=structlog.PrintLoggerFactory(out))
    try:
        log = structlog.get_logger()
        with tracer.span("structlog.span") as s:
            log.info("order.filled", symbol="BTCUSDT")
        log.info("idle")
    finally:
        structlog.reset_defaults()
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside == {"event": "order.filled", "symbol": "BTCUSDT",
                      "trace_id": s.context.trace_id_hex, "span_id": s.context.span_id_hex}
    assert outside == {"event": "idle"}
