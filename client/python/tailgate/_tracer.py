"""The process's tracer (libtailgate.so's segment), and the tracer of tracing switched off."""

from __future__ import annotations

import ctypes
import os
import socket
from typing import Any, Callable, Mapping, MutableMapping, Optional, Sequence

from . import _decorate, _library, _wire
from ._context import _SPAN_KEY, NonRecordingSpan, SpanContext, _current, as_span_context
from ._span import END_ON_EXIT, RECORD_EXCEPTION, SET_STATUS_ON_EXCEPTION, Span
from ._types import SpanKind

_INTERNAL = SpanKind.INTERNAL


def _flags(record_exception: bool, set_status_on_exception: bool, end_on_exit: bool) -> int:
    return ((RECORD_EXCEPTION if record_exception else 0)
            | (SET_STATUS_ON_EXCEPTION if set_status_on_exception else 0)
            | (END_ON_EXIT if end_on_exit else 0))


def _parent_in(context: Optional[Mapping[str, Any]]) -> Optional[SpanContext]:
    """The parent a span started with `context` gets: the span it holds (none: a root), else
    (context None) the current span."""
    span = _current.get() if context is None else context.get(_SPAN_KEY)
    return None if span is None else span.context


class _Starts:
    """OpenTelemetry's Tracer calls and the decorators, over _start (both tracers have them)."""

    def start_as_current_span(self, name: str, context: Optional[Mapping[str, Any]] = None,
                              kind: int = _INTERNAL,
                              attributes: Optional[Mapping[str, Any]] = None,
                              links: Optional[Sequence[Any]] = None,
                              start_time: Optional[int] = None, record_exception: bool = True,
                              set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Any:
        """A span to use in `with` (it is the current span inside) or as a decorator (each call
        a span). An exception escaping it is recorded and sets status ERROR."""
        flags = _flags(record_exception, set_status_on_exception, end_on_exit)
        return self._otel_start(name, context, kind, attributes, links, start_time, flags)

    def start_span(self, name: str, context: Optional[Mapping[str, Any]] = None,
                   kind: int = _INTERNAL, attributes: Optional[Mapping[str, Any]] = None,
                   links: Optional[Sequence[Any]] = None, start_time: Optional[int] = None,
                   record_exception: bool = True, set_status_on_exception: bool = True) -> Any:
        """A span that is not the current one (trace.use_span makes it so); end() ends it."""
        flags = _flags(record_exception, set_status_on_exception, True)
        return self._otel_start(name, context, kind, attributes, links, start_time, flags)

    def span(self, name: str, parent: Any = None, kind: int = _INTERNAL,
             attributes: Optional[Mapping[str, Any]] = None, **more: Any) -> Any:
        """A span: a child of `parent`, else of the current span, else a new trace's root.
        Attributes: the `attributes` mapping (any keys), and keyword arguments."""
        if attributes is not None:
            more = dict(attributes, **more) if more else attributes
        return self._start(name, parent, kind, more)

    def trace(self, name: Any = None, *, attributes: Optional[Mapping[str, Any]] = None,
              capture_args: int = 0, kind: int = _INTERNAL) -> Callable:
        """Decorates a function or `async def` coroutine function: each call is a span (a child
        of the current span) named `name` (default: module.qualname), with `attributes`, the
        function's code.function/code.namespace, and its first `capture_args` arguments as
        `arg.<parameter>` (self and cls left out). An exception escaping the call is recorded and
        sets status ERROR. `@tracer.trace` works without parentheses too."""
        if callable(name):
            return _decorate.traced(lambda: self, None, attributes, capture_args, kind)(name)
        return _decorate.traced(lambda: self, name, attributes, capture_args, kind)

    def inject(self, headers: MutableMapping[str, str], span: Any = None) -> None:
        """Adds W3C traceparent (and tracestate) of `span` or the current span to `headers`."""
        from .propagate import inject_context
        inject_context(headers, span)

    @staticmethod
    def extract(headers: Mapping[str, str]) -> Optional[SpanContext]:
        """The SpanContext in W3C headers (any letter case), or None."""
        from .propagate import extract_context
        return extract_context(headers)


class Tracer(_Starts):
    """The process's tracer (one per process): owns its shared-memory segment."""

    enabled = True

    def __init__(self, service_name: str, service_version: str = "",
                 resource: Optional[Mapping[str, str]] = None, directory: Optional[str] = None,
                 lanes: int = 0, lane_bytes: int = 0, library: Optional[str] = None):
        self._lib = _library.load_library(library)
        attrs = {"service.name": service_name, "host.name": socket.gethostname(),
                 "telemetry.sdk.name": "tailgate", "telemetry.sdk.language": "python"}
        if service_version:
            attrs["service.version"] = service_version
        attrs.update(resource or {})
        keys = (ctypes.c_char_p * len(attrs))(*[k.encode() for k in attrs])
        values = (ctypes.c_char_p * len(attrs))(*[str(v).encode() for v in attrs.values()])
        options = _library.Options(directory.encode() if directory else None, lanes, lane_bytes)
        handle = self._lib.tailgate_tracer_new(keys, values, len(attrs), ctypes.byref(options))
        if not handle:
            raise RuntimeError("tailgate: one Tracer per process, and one exists already")
        self._handle = handle
        self._emit_one = self._lib.tailgate_emit
        self.dropped_items = 0
        self._pid = os.getpid()
        # The native span where its module loads: the span-starting calls are then the module's
        # own functions, with no Python frame of ours per span.
        self._emitter = None
        native = _library.native_module(getattr(self._lib, "_name", None))
        if native is not None:
            self._emitter = native.Emitter(
                handle, ctypes.cast(self._lib.tailgate_emit, ctypes.c_void_p).value)
            self.span = self._emitter.span
            self._start = self._emitter.start
            self.start_as_current_span = self._emitter.start_as_current_span
            self.start_span = self._emitter.start_span

    @property
    def native(self) -> bool:
        """Whether spans are tailgate._native's (else the pure-Python Span)."""
        return self._emitter is not None

    @property
    def error(self) -> str:
        """Why there is no shared-memory segment (then every span is dropped), or ""."""
        return self._lib.tailgate_error(self._handle).decode() if self._handle else "closed"

    def _start(self, name: str, parent: Any, kind: int,
               attributes: Optional[Mapping[str, Any]]) -> Any:
        parent = as_span_context(parent) if parent is not None else _parent_in(None)
        return Span(self, name, parent, kind, attributes)

    def _otel_start(self, name: str, context: Optional[Mapping[str, Any]], kind: int,
                    attributes: Optional[Mapping[str, Any]], links: Optional[Sequence[Any]],
                    start_time: Optional[int], flags: int) -> Span:
        span = Span(self, name, _parent_in(context), kind, attributes, start_time, flags,
                    (name, context, kind, attributes, links, flags))
        if links:
            span._add_links(links)
        return span

    def _emit(self, record: bytes, items: int) -> bool:
        if items > 0xFFFF or len(record) > _wire.MAX_RECORD:
            self.dropped_items += items
            return False
        if not self._handle:  # closed
            return False
        return self._emit_one(self._handle, record, len(record)) == 1

    def end_all(self, spans: list) -> int:
        """Ends several spans with one foreign call (a loop that makes many short spans pays
        the call once); returns how many were written."""
        records = [r for r in (s._finish() for s in spans) if r is not None]
        data = b"".join(r + bytes(-len(r) % _wire.ALIGN) for r in records)
        return self._lib.tailgate_emit_batch(self._handle, data, len(data))

    def stats(self) -> dict:
        s = _library.Stats()
        if self._handle:  # else closed: what this module counted
            self._lib.tailgate_stats_get(self._handle, ctypes.byref(s))
        dropped, dropped_items = self._emitter.counts() if self._emitter is not None else (0, 0)
        # "agent": an agent reads the ring directory (its heartbeat there is under 5 s old);
        # False is "no agent": spans wait in the segment and are dropped once it fills.
        age = ctypes.c_int64(-1)
        agent = False
        if self._handle and hasattr(self._lib, "tailgate_agent_reading"):
            agent = self._lib.tailgate_agent_reading(self._handle, ctypes.byref(age)) == 1
        return {"dropped": s.dropped + dropped,
                "dropped_items": s.dropped_items + self.dropped_items + dropped_items,
                "attached": bool(s.attached), "agent": agent,
                "agent_heartbeat_age_s": age.value / 1e9 if age.value >= 0 else None}

    def close(self) -> None:
        """Gives up the segment handle; committed spans still reach the agent (spans ended
        after this are dropped)."""
        if self._handle:
            if self._emitter is not None:
                self._emitter.close()
            self._lib.tailgate_tracer_free(self._handle)
            self._handle = None


class DisabledTracer(_Starts):
    """The tracer of tracing switched off (or libtailgate.so not loaded): the Tracer's calls,
    recording nothing; every span is a NonRecordingSpan carrying its parent's context on, and
    decorators return the function itself."""

    enabled = False
    native = False

    def __init__(self, reason: str = "tracing is disabled"):
        self.error = reason

    def _start(self, name: str, parent: Any, kind: int,
               attributes: Optional[Mapping[str, Any]]) -> NonRecordingSpan:
        return NonRecordingSpan(as_span_context(parent) if parent is not None
                                else _parent_in(None), name)

    def _otel_start(self, name: str, context: Optional[Mapping[str, Any]], kind: int,
                    attributes: Any, links: Any, start_time: Any, flags: int) -> NonRecordingSpan:
        return NonRecordingSpan(_parent_in(context), name)

    def trace(self, name: Any = None, **options: Any) -> Callable:
        if callable(name):
            return name
        return lambda func: func

    def end_all(self, spans: list) -> int:
        return 0

    def stats(self) -> dict:
        return {"dropped": 0, "dropped_items": 0, "attached": False, "agent": False,
                "agent_heartbeat_age_s": None}

    def close(self) -> None:
        pass
