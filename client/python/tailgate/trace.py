"""OpenTelemetry's trace API (opentelemetry.trace) over tailgate: code written against it runs
after its imports change.

    from tailgate import trace             # was: from opentelemetry import trace
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("order.place", attributes={"order.symbol": "BTCUSDT"}):
        trace.get_current_span().set_attribute("order.qty", 5)

The tracer is the process's (tailgate.init_tracing(), made from the environment on the first span
if the program did not call it); the instrumentation scope (`__name__`) is not sent. Switched off
(TRACING_ENABLED / OTEL_TRACING_ENABLED false, OTEL_SDK_DISABLED true, no libtailgate.so), every
call still works: spans are NonRecordingSpans carrying their parent's context on.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping, Optional, Sequence

from . import _decorate, _global
# Re-exported: OpenTelemetry's names (the constants and Context included).
from ._context import (INVALID_SPAN, Context, NonRecordingSpan, _current,  # noqa: F401
                       set_span_in_context, span_in)
from ._types import (DEFAULT_TRACE_OPTIONS, DEFAULT_TRACE_STATE, INVALID_SPAN_CONTEXT,  # noqa: F401
                     INVALID_SPAN_ID, INVALID_TRACE_ID, SpanContext, SpanKind, Status,
                     StatusCode, TraceFlags, TraceState, format_span_id, format_trace_id)

__all__ = ["get_tracer", "get_current_span", "set_span_in_context", "use_span", "Tracer", "Span",
           "NonRecordingSpan", "INVALID_SPAN", "INVALID_SPAN_CONTEXT", "SpanContext", "SpanKind",
           "Status", "StatusCode", "TraceFlags", "TraceState", "Link", "format_trace_id",
           "format_span_id", "get_tracer_provider", "TracerProvider", "Context",
           "DEFAULT_TRACE_OPTIONS", "DEFAULT_TRACE_STATE", "INVALID_SPAN_ID", "INVALID_TRACE_ID"]


class Link:
    """A link to another span: start_span(links=[Link(context, attributes)]), or
    span.add_link(context, attributes)."""

    def __init__(self, context: SpanContext, attributes: Optional[Mapping[str, Any]] = None):
        self.context = context
        self.attributes = dict(attributes or {})


def get_current_span(context: Optional[Mapping[str, Any]] = None) -> Any:
    """The current span (or `context`'s); INVALID_SPAN when there is none, never None."""
    return span_in(context)


@contextlib.contextmanager
def use_span(span: Any, end_on_exit: bool = False, record_exception: bool = True,
             set_status_on_exception: bool = True) -> Iterator[Any]:
    """Makes `span` the current span inside the `with`; an exception escaping it is recorded and
    sets status ERROR (as the flags say); ends it on exit if `end_on_exit`."""
    token = _current.set(span)
    try:
        yield span
    except BaseException as e:
        if isinstance(e, Exception) and span.is_recording():
            if record_exception:
                span.record_exception(e, escaped=True)
            if set_status_on_exception:
                span.set_status(StatusCode.ERROR, f"{type(e).__qualname__}: {e}")
        raise
    finally:
        try:
            _current.reset(token)
        except ValueError:
            pass
        if end_on_exit:
            span.end()


class _Deferred:
    """start_as_current_span before the process's tracer exists (a decorator at import time):
    the tracer is made, from the environment, when the span is entered or the function called."""

    def __init__(self, proxy: "Tracer", args: tuple, kwargs: dict):
        self._proxy, self._args, self._kwargs, self._span = proxy, args, kwargs, None

    def __enter__(self) -> Any:
        self._span = self._proxy._real().start_as_current_span(*self._args, **self._kwargs)
        return self._span.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._span.__exit__(*exc)

    def __call__(self, func: Any) -> Any:
        proxy, args, kwargs = self._proxy, self._args, self._kwargs
        return _decorate.wrap(
            func, lambda a, k: proxy._real().start_as_current_span(*args, **kwargs))


class Tracer:
    """What get_tracer() returns: the process's tracer's calls. Once that tracer exists, its own
    (native) functions replace these on the object: no frame of this class per span."""

    def __init__(self, instrumenting_module_name: str = "",
                 instrumenting_library_version: Optional[str] = None):
        self.instrumentation_name = instrumenting_module_name
        self.instrumentation_version = instrumenting_library_version
        tracer = _global.get_tracer()
        if tracer is not None:
            self._bind(tracer)

    def _bind(self, tracer: Any) -> Any:
        self.start_as_current_span = tracer.start_as_current_span
        self.start_span = tracer.start_span
        return tracer

    def _real(self) -> Any:
        return self._bind(_global.get_tracer() or _global.init_tracing())

    def start_as_current_span(self, name: str, context: Optional[Mapping[str, Any]] = None,
                              kind: SpanKind = SpanKind.INTERNAL,
                              attributes: Optional[Mapping[str, Any]] = None,
                              links: Optional[Sequence[Link]] = None,
                              start_time: Optional[int] = None, record_exception: bool = True,
                              set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Any:
        args = (name, context, kind, attributes, links, start_time, record_exception,
                set_status_on_exception, end_on_exit)
        tracer = _global.get_tracer()
        if tracer is None:
            return _Deferred(self, args, {})
        return self._bind(tracer).start_as_current_span(*args)

    def start_span(self, name: str, context: Optional[Mapping[str, Any]] = None,
                   kind: SpanKind = SpanKind.INTERNAL,
                   attributes: Optional[Mapping[str, Any]] = None,
                   links: Optional[Sequence[Link]] = None, start_time: Optional[int] = None,
                   record_exception: bool = True, set_status_on_exception: bool = True) -> Any:
        return self._real().start_span(name, context, kind, attributes, links, start_time,
                                       record_exception, set_status_on_exception)


# For isinstance checks and annotations: what spans are.
Span = object


def get_tracer(instrumenting_module_name: str = "",
               instrumenting_library_version: Optional[str] = None,
               tracer_provider: Any = None, schema_url: Optional[str] = None,
               attributes: Optional[Mapping[str, Any]] = None) -> Tracer:
    return Tracer(instrumenting_module_name, instrumenting_library_version)


class TracerProvider:
    def get_tracer(self, instrumenting_module_name: str = "",
                   instrumenting_library_version: Optional[str] = None,
                   schema_url: Optional[str] = None,
                   attributes: Optional[Mapping[str, Any]] = None) -> Tracer:
        return Tracer(instrumenting_module_name, instrumenting_library_version)


_PROVIDER = TracerProvider()


def get_tracer_provider() -> TracerProvider:
    return _PROVIDER
