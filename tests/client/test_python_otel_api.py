"""A module written only against OpenTelemetry's API (opentelemetry.trace, .propagate, .baggage and
.context, as its specification names them) with its imports changed to tailgate's, run through
the real path: libtailgate.so -> segment -> the real agent -> the real sink. The spans must arrive
as written. Run by ctest twice: tailgate._native's span and the pure-Python one."""

import asyncio
import os
import tempfile
import time

import pytest

from agent_stack import Stack  # tests/support: the real agent and sink in a temp dir

# --- the application module: OpenTelemetry's names only ----------------------------------------
from tailgate import baggage, context, propagate, trace  # was: from opentelemetry import ...
from tailgate.trace import SpanKind, Status, StatusCode  # was: from opentelemetry.trace import ...

tracer = trace.get_tracer(__name__, "1.0.0")


@tracer.start_as_current_span("app.decorated", attributes={"app.layer": "domain"})
def decorated(quantity):  # decorated before any tracer exists (at import)
    trace.get_current_span().set_attribute("order.qty", quantity)
    return quantity * 2


@tracer.start_as_current_span("app.decorated.async", kind=SpanKind.CONSUMER)
async def decorated_coroutine(symbol):
    await asyncio.sleep(0.001)
    trace.get_current_span().set_attribute("order.symbol", symbol)
    return symbol


def handle(headers):
    """A server handler: the caller's context in, a child call's headers out."""
    ctx = propagate.extract(headers)
    with tracer.start_as_current_span(
            "app.handle", context=ctx, kind=SpanKind.SERVER,
            attributes={"http.request.method": "GET", "retry.count": 2, "fill.ratio": 0.5,
                        "cache.hit": False}) as span:
        assert span.is_recording()
        assert trace.get_current_span() is span
        span.add_event("cache.miss", {"cache.key": "BTCUSDT"})
        try:
            raise KeyError("BTCUSDT")
        except KeyError as e:
            span.record_exception(e)  # handled: recorded, not an error of the span
        outgoing = {}
        propagate.inject(outgoing)
        child = tracer.start_span("app.child", attributes={"step": 1},
                                  start_time=1_700_000_000_000_000_000,
                                  links=[trace.Link(span.get_span_context(),
                                                    {"link.reason": "follows"})])
        child.add_link(trace.SpanContext(0x4bf92f3577b34da6a3ce929d0e0e4736, 0x1, True))
        assert trace.get_current_span() is span  # start_span does not make it current
        with trace.use_span(child, end_on_exit=False):
            assert trace.get_current_span() is child
            child.update_name("app.child.renamed")
            child.set_status(Status(StatusCode.OK))
            child.set_status(StatusCode.ERROR, "ignored: OK is final")
        child.end(end_time=1_700_000_000_000_000_500)
        return span.get_span_context(), outgoing


def fails():
    with tracer.start_as_current_span("app.fails") as span:
        span.set_status(StatusCode.UNSET)
        raise RuntimeError("venue down")


# --- the test ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack():
    with tempfile.TemporaryDirectory(prefix="tailgate-otel-") as tmp:
        s = Stack(tmp)
        # The tracer is made from the environment at the first span (no init_tracing call).
        os.environ.update(TAILGATE_RING_DIRECTORY=s.ring, OTEL_SERVICE_NAME="otel-app",
                          OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test")
        yield s
        s.close()


def test_the_decorator_made_at_import_makes_a_span_per_call(stack):
    assert decorated(3) == 6 and decorated(4) == 8
    assert asyncio.run(decorated_coroutine("ETHUSDT")) == "ETHUSDT"
    spans = stack.spans("app.decorated", count=2)
    assert sorted(s["attributes"]["order.qty"] for s in spans) == [3, 4]
    assert all(s["attributes"]["app.layer"] == "domain" for s in spans)
    assert spans[0]["span_id"] != spans[1]["span_id"]
    assert spans[0]["resource"]["service.name"] == "otel-app"
    [coroutine] = stack.spans("app.decorated.async")
    assert coroutine["kind"] == 5 and coroutine["attributes"]["order.symbol"] == "ETHUSDT"


def test_a_server_span_under_an_extracted_context_arrives_as_written(stack):
    incoming = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "tracestate": "rojo=00f067aa0ba902b7", "baggage": "user.tier=gold,desk=fx%20spot"}
    span_context, outgoing = handle(incoming)
    assert span_context.trace_id == 0x4bf92f3577b34da6a3ce929d0e0e4736
    assert trace.format_trace_id(span_context.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span_context.is_valid and not span_context.is_remote
    assert span_context.trace_flags.sampled
    assert outgoing["traceparent"] == (
        f"00-{trace.format_trace_id(span_context.trace_id)}-"
        f"{trace.format_span_id(span_context.span_id)}-01")
    assert outgoing["tracestate"] == "rojo=00f067aa0ba902b7"
    assert "user.tier=gold" in outgoing["baggage"] and "desk=fx%20spot" in outgoing["baggage"]

    [span] = stack.spans("app.handle")
    assert span["parent_span_id"] == "00f067aa0ba902b7" and span["kind"] == 2
    assert span["span_id"] == trace.format_span_id(span_context.span_id)
    attrs = span["attributes"]
    assert (attrs["http.request.method"], attrs["retry.count"], attrs["fill.ratio"],
            attrs["cache.hit"]) == ("GET", 2, 0.5, False)
    assert span["status"]["code"] == 0  # the handled exception did not make it an error
    miss, exception = span["events"]
    assert miss["name"] == "cache.miss" and miss["attributes"] == {"cache.key": "BTCUSDT"}
    assert exception["name"] == "exception"
    assert exception["attributes"]["exception.type"] == "KeyError"
    assert exception["attributes"]["exception.escaped"] is False

    [child] = stack.spans("app.child.renamed")
    assert child["parent_span_id"] == span["span_id"] and child["trace_id"] == span["trace_id"]
    assert child["start_unix_ns"] == 1_700_000_000_000_000_000
    assert child["end_unix_ns"] == 1_700_000_000_000_000_500
    assert child["status"]["code"] == 1 and child["attributes"]["step"] == 1
    first, second = child["links"]
    assert (first["trace_id"], first["span_id"]) == (span["trace_id"], span["span_id"])
    assert first["attributes"] == {"link.reason": "follows"}
    assert (second["trace_id"], second["span_id"]) == (span["trace_id"], "0000000000000001")


def test_an_escaping_exception_sets_error_and_is_recorded(stack):
    with pytest.raises(RuntimeError):
        fails()
    [span] = stack.spans("app.fails")
    assert span["status"]["code"] == 2
    assert span["status"]["message"] == "RuntimeError: venue down"
    [event] = span["events"]
    assert event["attributes"]["exception.escaped"] is True
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_the_flags_of_start_as_current_span(stack):
    with pytest.raises(ValueError):
        with tracer.start_as_current_span("app.quiet", record_exception=False,
                                          set_status_on_exception=False):
            raise ValueError("x")
    with tracer.start_as_current_span("app.open", end_on_exit=False) as span:
        pass
    assert span.is_recording()
    span.end()
    assert not span.is_recording()
    [quiet] = stack.spans("app.quiet")
    assert quiet["status"]["code"] == 0 and quiet["events"] == []
    assert len(stack.spans("app.open")) == 1


def test_outside_any_span_the_current_span_is_the_invalid_one():
    span = trace.get_current_span()
    assert span is trace.INVALID_SPAN and not span.is_recording()
    assert span.get_span_context() == trace.INVALID_SPAN_CONTEXT
    assert not span.get_span_context().is_valid
    span.set_attribute("anything", 1)  # does nothing, does not raise
    carrier = {}
    propagate.inject(carrier)
    assert carrier == {}


def test_baggage_and_context_attach_detach(stack):
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        assert baggage.get_baggage("tenant") == "acme"
        with tracer.start_as_current_span("app.baggage"):
            carrier = {}
            propagate.inject(carrier)
    finally:
        context.detach(token)
    assert baggage.get_baggage("tenant") is None
    assert carrier["baggage"] == "tenant=acme"
    extracted = propagate.extract(carrier)
    assert baggage.get_baggage("tenant", extracted) == "acme"
    parent = trace.get_current_span(extracted).get_span_context()
    assert parent.is_remote and parent.is_valid
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    with tracer.start_as_current_span("app.baggage.child", context=ctx):
        pass
    [child] = stack.spans("app.baggage.child")
    assert child["parent_span_id"] == trace.format_span_id(parent.span_id)
    # An empty Context holds no span: a new trace's root, even inside a span.
    with tracer.start_as_current_span("app.outer"):
        with tracer.start_as_current_span("app.new.root", context=context.Context()):
            pass
    [root] = stack.spans("app.new.root")
    assert root["parent_span_id"] == ""


def test_attribute_types_arrive_as_their_otlp_types(stack):
    with tracer.start_as_current_span("app.types", attributes={
            "s": "text", "i": -(2 ** 63), "f": 1e-3, "b": True}) as span:
        span.set_attributes({"i.max": 2 ** 63 - 1, "b.false": False, "f.neg": -0.5})
    [got] = stack.spans("app.types")
    a = got["attributes"]
    assert (a["s"], a["i"], a["f"], a["b"]) == ("text", -(2 ** 63), 1e-3, True)
    assert (a["i.max"], a["b.false"], a["f.neg"]) == (2 ** 63 - 1, False, -0.5)
    assert type(a["i"]) is int and type(a["b"]) is bool and type(a["f"]) is float
    # Sequences of one type arrive as OTLP arrays of it; a mixed one (OpenTelemetry's SDK drops
    # it with a warning) as compact JSON text.
    with tracer.start_as_current_span("app.arrays", attributes={
            "tags": ["fx", "spot"], "lots": (1, 2), "px": [2.5], "ok": [True], "none": [],
            "levels": (1, 2.5, True)}):
        pass
    [got] = stack.spans("app.arrays")
    a = got["attributes"]
    assert (a["tags"], a["lots"], a["px"], a["ok"], a["none"]) == (
        ["fx", "spot"], [1, 2], [2.5], [True], [])
    assert type(a["lots"][0]) is int and type(a["px"][0]) is float and type(a["ok"][0]) is bool
    assert a["levels"] == "[1,2.5,true]"


def test_start_time_and_event_timestamps_are_kept(stack):
    start = time.time_ns() - 5_000_000
    with tracer.start_as_current_span("app.times", start_time=start) as span:
        span.add_event("tick", {"seq": 1}, timestamp=start + 1000)
    [got] = stack.spans("app.times")
    assert got["start_unix_ns"] == start
    assert got["events"][0]["time_unix_ns"] == start + 1000
    assert got["events"][0]["attributes"] == {"seq": 1}
