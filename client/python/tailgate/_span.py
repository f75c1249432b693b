"""The pure-Python span (where tailgate._native does not load), and what both spans share."""

from __future__ import annotations

import random
import time
import traceback
from typing import Any, Mapping, Optional

from . import _decorate, _types, _wire
from ._context import SpanContext, _baggage, _current, as_span_context

_ZERO8 = bytes(8)
_PARENT_IS_REMOTE = 1  # span_flags bit 0
# Span flags (as tailgate._native keeps them): what an exception escaping the span does.
RECORD_EXCEPTION, SET_STATUS_ON_EXCEPTION, END_ON_EXIT = 1, 2, 4
DEFAULT_FLAGS = RECORD_EXCEPTION | SET_STATUS_ON_EXCEPTION | END_ON_EXIT


class SpanAPI:
    """OpenTelemetry's calls that both spans (this file's and tailgate._native's) share."""

    __slots__ = ()

    def get_span_context(self) -> _types.SpanContext:
        return self.context.to_otel()

    def record_exception(self, exception: BaseException,
                         attributes: Optional[Mapping[str, Any]] = None,
                         timestamp: Optional[int] = None, escaped: bool = False) -> Any:
        """OpenTelemetry's exception event (type, message, stack trace). It does not set the
        status: a handled exception is not an error of the span (an escaping one is)."""
        stack = "".join(traceback.format_exception(type(exception), exception,
                                                   exception.__traceback__))
        event = {"exception.type": type(exception).__qualname__,
                 "exception.message": str(exception),
                 "exception.stacktrace": stack, "exception.escaped": escaped}
        event.update(attributes or {})
        return self.add_event("exception", event, timestamp=timestamp)

    def add_link(self, context: Any, attributes: Optional[Mapping[str, Any]] = None) -> None:
        """A link to the span `context` identifies (either kind of SpanContext); an invalid one
        without attributes is left out, as OpenTelemetry has it."""
        ctx = as_span_context(context)
        if ctx.is_valid or attributes:
            self._append_link(ctx.trace_id, ctx.span_id, ctx.trace_state or "", attributes)

    def _add_links(self, links: Any) -> None:
        for link in links:
            self.add_link(link.context, getattr(link, "attributes", None))

    def _escaped(self, exception: BaseException, flags: int) -> None:
        """An exception escapes the span's `with`: recorded, status ERROR (as flags say)."""
        if flags & RECORD_EXCEPTION:
            self.record_exception(exception, escaped=True)
        if flags & SET_STATUS_ON_EXCEPTION:
            self.set_status(_types.StatusCode.ERROR,
                            f"{type(exception).__qualname__}: {exception}")

    def __call__(self, func: Any) -> Any:
        """start_as_current_span(...) as a decorator: each call of `func` is a new span made as
        this one was (this one, made at decoration time, is never ended: it is not sent)."""
        start, name, context, kind, attributes, links, flags = self._recipe()
        self._discard()

        def make(args: tuple, kwargs: Mapping[str, Any]) -> Any:
            return start(name, context, kind, attributes, links, None,
                         bool(flags & RECORD_EXCEPTION), bool(flags & SET_STATUS_ON_EXCEPTION),
                         bool(flags & END_ON_EXIT))
        return _decorate.wrap(func, make)


class Span(SpanAPI):
    """A span in progress; a context manager. Ends (and is handed to the agent) on exit."""

    __module__ = "tailgate"  # where users meet it
    __slots__ = ("_tracer", "_parts", "_status", "_token", "context", "name", "_ended", "_kind",
                 "_parent_id", "_span_flags", "_start", "_flags", "_recipe_args", "_baggage_token")

    def __init__(self, tracer: Any, name: str, parent: Optional[SpanContext], kind: int,
                 attributes: Optional[Mapping[str, Any]], start_time: Optional[int] = None,
                 flags: int = DEFAULT_FLAGS, recipe: Optional[tuple] = None):
        getrandbits = random.getrandbits
        if parent is not None and parent.is_valid:
            trace_id, trace_flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
            self._parent_id = parent.span_id
            self._span_flags = _PARENT_IS_REMOTE if parent.is_remote else 0
        else:
            trace_id, trace_flags, state = getrandbits(128).to_bytes(16, "little"), 1, ""
            self._parent_id = _ZERO8
            self._span_flags = 0
        span_id = (getrandbits(64) | 1).to_bytes(8, "little")
        self.context = SpanContext(trace_id, span_id, trace_flags, state)
        self._tracer = tracer
        self.name = name
        self._kind = int(kind)
        self._status = 0
        attribute = _wire.attribute
        self._parts = [attribute(k, v) for k, v in attributes.items()] if attributes else []
        if state:
            self._parts.append(_wire.TAG_STATE + _wire.string(state))
        self._token = self._baggage_token = None
        self._ended = False
        self._flags = flags
        self._recipe_args = recipe
        self._start = time.time_ns() if start_time is None else int(start_time)

    # The trading guides' names, and OpenTelemetry's.
    def set_attribute(self, key: str, value: Any) -> "Span":
        if not self._ended:
            self._parts.append(_wire.attribute(key, value))
        return self

    def set_attributes(self, attributes: Mapping[str, Any]) -> "Span":
        if not self._ended:
            for k, v in attributes.items():
                self._parts.append(_wire.attribute(k, v))
        return self

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None,
                  timestamp: Optional[int] = None, **more: Any) -> "Span":
        if not self._ended:
            attrs = dict(attributes or {}, **more) if more else attributes
            when = time.time_ns() if timestamp is None else int(timestamp)
            self._parts.append(_wire.event(when, name, attrs))
        return self

    def _append_link(self, trace_id: bytes, span_id: bytes, trace_state: str,
                     attributes: Optional[Mapping[str, Any]]) -> None:
        if not self._ended:
            self._parts.append(_wire.link(trace_id, span_id, trace_state, attributes))

    def set_status_error(self, message: str = "") -> "Span":
        if not self._ended:
            self._status = 2
            if message:
                self._parts.append(_wire.TAG_STATUS + _wire.string(message))
        return self

    def set_status_ok(self) -> "Span":
        if not self._ended:
            self._status = 1
        return self

    def set_status(self, status: Any, description: Optional[str] = None) -> "Span":
        """OpenTelemetry's rules: OK is final, UNSET changes nothing, a description goes with
        ERROR only."""
        if isinstance(status, _types.Status):
            status, description = status.status_code, status.description or description
        if self._ended or self._status == 1 or status == 0:
            return self
        if status == 1:
            return self.set_status_ok()
        return self.set_status_error(description or "")

    def update_name(self, name: str) -> "Span":
        if not self._ended:
            self.name = name
        return self

    def is_recording(self) -> bool:
        return not self._ended

    def end(self, end_time: Optional[int] = None) -> bool:
        """Ends the span now (later calls do nothing). False if it was dropped."""
        record = self._finish(end_time)
        return record is not None and self._tracer._emit(record, len(self._parts))

    def _finish(self, end_time: Optional[int] = None) -> Optional[bytes]:
        """Ends the span and returns its encoded record (None if it had ended already)."""
        if self._ended:
            return None
        self._ended = True
        end = max(time.time_ns() if end_time is None else int(end_time), self._start)
        ctx = self.context
        name = _wire.name(self.name)
        parts = self._parts
        length = _wire.FIXED.size + len(name) + sum(map(len, parts))
        if length > _wire.MAX_RECORD:
            parts = self._fit(parts, length - _wire.MAX_RECORD)
            length = _wire.FIXED.size + len(name) + sum(map(len, parts))
        body = b"".join(parts)
        head = _wire.FIXED.pack(length, _wire.SPAN, 1, ctx.trace_id, ctx.span_id,
                                self._parent_id, self._start, end, self._kind, self._status,
                                ctx.trace_flags, self._span_flags, len(name), len(parts))
        return head + name + body

    def _fit(self, parts: list, excess: int) -> list:
        """Leaves out the biggest items until the record fits, with a Dropped item saying how
        many attributes and events went (as the encoder in C++ does), counted."""
        parts = list(parts)
        excess += _wire.DROPPED_SIZE
        attributes = events = 0
        while excess > 0 and parts:
            biggest = max(parts, key=len)
            parts.remove(biggest)
            excess -= len(biggest)
            self._tracer.dropped_items += 1
            attributes += biggest[:1] == _wire.TAG_ATTR
            events += biggest[:1] == _wire.TAG_EVENT
        if attributes or events:
            parts.append(_wire.dropped(attributes, events))
        return parts

    def _recipe(self) -> tuple:
        return (self._tracer.start_as_current_span,) + (self._recipe_args or (
            self.name, None, self._kind, None, None, self._flags))

    def _discard(self) -> None:
        self._ended = True

    def __enter__(self) -> "Span":
        started_in = self._recipe_args[1] if self._recipe_args else None
        if started_in is not None:  # as OpenTelemetry makes the whole Context current
            self._baggage_token = _baggage.set(started_in.get("baggage") or {})
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc is not None:
                self._escaped(exc, self._flags)  # may raise (a __str__ that does)
        finally:
            try:
                if self._baggage_token is not None:
                    _baggage.reset(self._baggage_token)
                if self._token is not None:
                    _current.reset(self._token)
            except ValueError:  # exited in another context than entered: leave it be
                pass
            self._token = self._baggage_token = None
            if self._flags & END_ON_EXIT:
                self.end()
