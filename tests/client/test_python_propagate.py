"""tailgate.propagate: W3C trace context and baggage, B3 (single and multi header) and Jaeger's
uber-trace-id, each extracted, used as a real span's parent (through the real agent and sink) and
injected again."""

import pytest

import tailgate
from tailgate import baggage, propagate, trace

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def tracer(stack):  # stack: conftest.py
    t = tailgate.Tracer("propagation", directory=stack.ring)
    yield t
    t.close()


FORMATS = {
    "tracecontext": {"traceparent": f"00-{TRACE}-{SPAN}-01"},
    "b3": {"b3": f"{TRACE}-{SPAN}-1"},
    "b3multi": {"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-Sampled": "1"},
    "jaeger": {"uber-trace-id": f"{TRACE}:{SPAN}:0:1"},
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_round_trips_through_a_real_span(stack, tracer, name):
    ctx = propagate.extract(FORMATS[name])
    parent = trace.get_current_span(ctx).get_span_context()
    assert (trace.format_trace_id(parent.trace_id), trace.format_span_id(parent.span_id)) == (
        TRACE, SPAN)
    assert parent.is_remote and parent.trace_flags.sampled
    # The same headers back, for the extracted context itself.
    again = {}
    propagate.inject(again, ctx, formats=[name])
    assert again == FORMATS[name]
    # A span under it: same trace, the remote span its parent; its own id goes out.
    with tracer.start_as_current_span(f"prop.{name}", context=ctx) as span:
        outgoing = {}
        propagate.inject(outgoing, formats=[name])
    mine = trace.format_span_id(span.get_span_context().span_id)
    assert TRACE in next(iter(outgoing.values())) and mine in "".join(outgoing.values())
    [got] = stack.spans(f"prop.{name}")
    assert got["trace_id"] == TRACE and got["parent_span_id"] == SPAN
    assert got["span_id"] == mine


def test_short_ids_and_flags_of_b3_and_jaeger():
    # 64-bit trace ids (left-padded), unsampled, debug, URL-encoded separators.
    ctx = trace.get_current_span(propagate.extract({"b3": f"{TRACE[16:]}-{SPAN}-0"}))
    got = ctx.get_span_context()
    assert trace.format_trace_id(got.trace_id) == "0" * 16 + TRACE[16:]
    assert not got.trace_flags.sampled
    multi = propagate.extract({"x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-flags": "1"})
    assert trace.get_current_span(multi).get_span_context().trace_flags.sampled
    jaeger = propagate.extract({"Uber-Trace-Id": f"{TRACE[20:]}%3A{SPAN}%3A0%3A0"})
    got = trace.get_current_span(jaeger).get_span_context()
    assert trace.format_trace_id(got.trace_id) == TRACE[20:].rjust(32, "0")
    assert not got.trace_flags.sampled


def test_malformed_headers_give_no_context():
    for headers in ({"traceparent": "00-xyz"}, {"b3": "0"}, {"b3": "zz-yy-1"},
                    {"X-B3-TraceId": TRACE}, {"uber-trace-id": "a:b:c"},
                    {"uber-trace-id": f"{TRACE}:{'0' * 16}:0:1"}, {}):
        span = trace.get_current_span(propagate.extract(headers))
        assert span is trace.INVALID_SPAN, headers
        assert tailgate.extract_context(headers) is None


def test_w3c_wins_over_the_others():
    other = "a" * 32
    ctx = propagate.extract({"traceparent": f"00-{TRACE}-{SPAN}-01", "b3": f"{other}-{SPAN}-1"})
    assert trace.format_trace_id(trace.get_current_span(ctx).get_span_context().trace_id) == TRACE


def test_baggage_w3c_and_jaeger():
    ctx = propagate.extract({"baggage": "a=1,b=x%2Cy;prop=1, c = 3 ", "uberctx-Desk": "fx"})
    assert baggage.get_all(ctx) == {"a": "1", "b": "x,y", "c": "3", "desk": "fx"}
    out = {}
    propagate.inject(out, baggage.set_baggage("k", "v w", ctx), formats=["baggage"])
    assert out["baggage"] == "a=1,b=x%2Cy,c=3,desk=fx,k=v%20w"


def test_the_earlier_calls_read_b3_and_jaeger_too():
    for headers in (FORMATS["b3"], FORMATS["jaeger"], FORMATS["b3multi"]):
        ctx = tailgate.extract_context(headers)
        assert ctx.trace_id_hex == TRACE and ctx.span_id_hex == SPAN and ctx.is_remote
