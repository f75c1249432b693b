"""Tracing switched off, every way it can be (TRACING_ENABLED=false, OTEL_TRACING_ENABLED=false,
OTEL_SDK_DISABLED=true, libtailgate.so not found): every call a traced program makes still works
on usable spans that record nothing (never None), and an incoming context is passed on. Each in a
process of its own (one tracer per process)."""

import json
import os
import subprocess

import pytest

SCRIPT = r"""
import json, sys, tailgate
from tailgate import propagate, trace

@tailgate.trace("off.decorated")
def decorated():
    tailgate.current_span().set_attribute("order.qty", 1)   # the README's own pattern
    return tailgate.current_span().context

otel = trace.get_tracer(__name__)

@otel.start_as_current_span("off.otel.decorated")
def otel_decorated():
    trace.get_current_span().set_attribute("k", "v").add_event("e")
    return trace.get_current_span()

tracer = tailgate.init_tracing("quiet")
out = {"type": type(tracer).__name__}
assert tailgate.current_span() is not None and not tailgate.current_span().is_recording()
assert tailgate.current_span().context is not None
out["decorated_valid"] = decorated().is_valid
out["otel_decorated"] = type(otel_decorated()).__name__
incoming = propagate.extract({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
with tracer.span("off.legacy", attributes={"a.b": 1}) as s:
    s.set_attribute("x", 1).set_attributes({"y": 2}).add_event("z", {"w": 3})
    s.set_status_ok().set_status_error("no").record_exception(ValueError("v"))
    assert s.context is not None and not s.context.is_valid
with otel.start_as_current_span("off.otel", context=incoming, kind=trace.SpanKind.SERVER,
                                attributes={"a": 1}, links=[], start_time=1) as span:
    span.set_status(trace.Status(trace.StatusCode.ERROR, "x"))
    span.update_name("renamed")
    span.record_exception(RuntimeError("r"))
    span.add_link(span.get_span_context())
    out["recording"] = span.is_recording()
    out["trace_id"] = trace.format_trace_id(span.get_span_context().trace_id)
    headers = {}
    propagate.inject(headers)
    out["headers"] = headers
    out["legacy_headers"] = tailgate.inject_context({})
other = otel.start_span("off.start_span")
with trace.use_span(other, end_on_exit=True):
    trace.get_current_span().set_attribute("k", 1)
other.end(end_time=5)
try:
    with otel.start_as_current_span("off.raises"):
        raise KeyError("k")
except KeyError:
    out["raised"] = True
out["outside"] = repr(trace.get_current_span() is trace.INVALID_SPAN)
out["stats"] = tracer.stats()
print(json.dumps(out))
"""

WAYS = {
    "TRACING_ENABLED": {"TRACING_ENABLED": "false"},
    "OTEL_TRACING_ENABLED": {"OTEL_TRACING_ENABLED": "false"},
    "OTEL_SDK_DISABLED": {"OTEL_SDK_DISABLED": "true"},
    "no library": {"TAILGATE_LIBRARY": "/nonexistent/libtailgate.so",
                   "LD_LIBRARY_PATH": "/nonexistent"},
}


def run(env, script=SCRIPT):
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("OTEL_", "SERVICE_", "TRACING_", "TAILGATE_RING"))}
    environment.update(env)
    return subprocess.run(["/usr/bin/python3", "-c", script], env=environment,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("way", sorted(WAYS))
def test_every_call_works_on_spans_that_record_nothing(way):
    done = run(WAYS[way])
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["type"] == "DisabledTracer"
    assert out["decorated_valid"] is False
    assert out["otel_decorated"] == "NonRecordingSpan"
    assert out["recording"] is False
    # The incoming context goes on to the next service unchanged.
    assert out["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert out["headers"] == {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    assert out["legacy_headers"] == out["headers"]
    assert out["raised"] is True and out["outside"] == "True"


def test_otel_tracing_enabled_is_read_and_tracing_enabled_wins():
    done = run({"OTEL_TRACING_ENABLED": "maybe"})
    assert done.returncode != 0 and "OTEL_TRACING_ENABLED='maybe'" in done.stderr
    kind = "import tailgate; print(type(tailgate.init_tracing('x')).__name__)"
    # TRACING_ENABLED, where it is set, decides.
    done = run({"TRACING_ENABLED": "true", "OTEL_TRACING_ENABLED": "false"}, kind)
    assert done.stdout.strip() == "Tracer", done.stderr
    assert run({"OTEL_TRACING_ENABLED": "true"}, kind).stdout.strip() == "Tracer"
