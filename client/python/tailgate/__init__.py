"""tailgate's Python client: finished spans to the tailgate agent through shared memory.

OpenTelemetry's API (a module written against opentelemetry.trace and opentelemetry.propagate
runs after changing its imports):

    from tailgate import trace, propagate
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("order.place", attributes={"order.symbol": "BTCUSDT"}) as s:
        s.set_attribute("order.qty", 5)
        propagate.inject(headers)

and tailgate's own, shorter names:

    tracer = tailgate.init_tracing("signal-bot", "2.1.0")   # or tailgate.Tracer(...)
    with tracer.span("signal_bot.strategy.generate_signal", symbol="BTCUSDT") as s:
        s.add_event("model.scored", model="momentum")

    @tracer.trace("signal_bot.risk.check", capture_args=1)    # functions and async functions
    def risk_check(signal): ...

Standard library only. Each span is encoded into the wire format (docs/wire-format.md) and handed
to libtailgate.so, which copies it into this thread's lane of the process's segment: no syscall,
never blocking; a full lane drops the span and counts it. The span is tailgate._native's (C++ over
CPython's API, built and installed with the library: a few interpreter calls per span) where that
module loads, else the pure-Python Span (_span.py), which encodes in Python and makes one ctypes
call per span. TAILGATE_PYTHON_NATIVE=0 chooses the pure-Python one; =<path> names the module's
file. The current span follows threads and asyncio tasks (contextvars): a span started inside
another is its child. With tracing off, every call still works and records nothing
(NonRecordingSpan); current_span() is never None.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from ._context import INVALID_SPAN, NonRecordingSpan, SpanContext, current_span
from ._decorate import traced as _traced
from ._library import load_library
from ._span import Span
from ._tracer import DisabledTracer, Tracer
from ._types import SpanKind, Status, StatusCode
from .propagate import extract_context, inject_context

__all__ = ["Tracer", "Span", "SpanContext", "SpanKind", "Status", "StatusCode", "current_span",
           "load_library", "DisabledTracer", "NonRecordingSpan", "INVALID_SPAN",
           "inject_context", "extract_context", "init_tracing", "get_tracer", "trace",
           "propagate", "TraceContextFilter", "instrument_logging", "structlog_processor"]


def _trace_decorator(name: Any = None, *, attributes: Optional[Mapping[str, Any]] = None,
                     capture_args: int = 0, kind: int = SpanKind.INTERNAL) -> Callable:
    """Tracer.trace for module-level functions decorated before the tracer exists: each call uses
    the tracer init_tracing() made (before init_tracing, calls run untraced)."""
    if callable(name):
        return _traced(_global.get_tracer, None, attributes, capture_args, kind)(name)
    return _traced(_global.get_tracer, name, attributes, capture_args, kind)


from . import _global, propagate  # noqa: E402
from . import trace as _trace_module  # noqa: E402
from ._global import get_tracer, init_tracing  # noqa: E402
from .logs import TraceContextFilter, instrument_logging, structlog_processor  # noqa: E402


class _Module(type(_trace_module)):  # type: ignore[misc]
    """`tailgate.trace` is both the decorator (tailgate.trace(name, ...)) and OpenTelemetry's
    trace module (from tailgate import trace; trace.get_tracer(...))."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _trace_decorator(*args, **kwargs)


_trace_module.__class__ = _Module
trace = _trace_module
