"""Span contexts, the current span and baggage (contextvars: they follow threads and asyncio tasks),
and OpenTelemetry's Context: what a span's parent and baggage are read from."""

from __future__ import annotations

import contextvars
from typing import Any, Mapping, Optional

from . import _types


class SpanContext:
    """What W3C traceparent carries: trace id (16 bytes), span id (8 bytes), flags. All-zero ids:
    the invalid context (no span), as a span outside any trace has."""

    __slots__ = ("trace_id", "span_id", "trace_flags", "trace_state", "is_remote")

    def __init__(self, trace_id: bytes, span_id: bytes, trace_flags: int = 1,
                 trace_state: str = "", is_remote: bool = False):
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.trace_state = trace_state
        self.is_remote = is_remote  # came from another process (a traceparent)

    @property
    def is_valid(self) -> bool:
        return any(self.trace_id) and any(self.span_id)

    @property
    def trace_id_hex(self) -> str:
        return self.trace_id.hex()

    @property
    def span_id_hex(self) -> str:
        return self.span_id.hex()

    def traceparent(self) -> str:
        return f"00-{self.trace_id.hex()}-{self.span_id.hex()}-{self.trace_flags:02x}"

    @classmethod
    def from_traceparent(cls, header: str, trace_state: str = "") -> Optional["SpanContext"]:
        """Parses a W3C traceparent; None if it is malformed."""
        parts = header.strip().split("-")
        if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
            return None
        if parts[0] == "00" and len(parts) != 4:
            return None
        version, trace, span, flags = parts[0], parts[1], parts[2], parts[3]
        if len(trace) != 32 or len(span) != 16 or len(flags) != 2:
            return None
        hexdigits = "0123456789abcdef"
        if any(c not in hexdigits for c in version + trace + span + flags):
            return None
        trace_id, span_id = bytes.fromhex(trace), bytes.fromhex(span)
        if not any(trace_id) or not any(span_id):
            return None
        return cls(trace_id, span_id, int(flags, 16), trace_state, is_remote=True)

    def to_otel(self) -> _types.SpanContext:
        """The same context as tailgate.trace.SpanContext (ids as ints)."""
        state = (_types.TraceState.from_header([self.trace_state]) if self.trace_state
                 else _types.DEFAULT_TRACE_STATE)
        return _types.SpanContext(int.from_bytes(self.trace_id, "big"),
                                  int.from_bytes(self.span_id, "big"), self.is_remote,
                                  _types.TraceFlags(self.trace_flags), state)

    @classmethod
    def from_otel(cls, context: _types.SpanContext) -> "SpanContext":
        if not context.is_valid:
            return INVALID
        state = context.trace_state.to_header() if context.trace_state else ""
        return cls(context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big"),
                   int(context.trace_flags), state, bool(context.is_remote))

    def __repr__(self) -> str:
        return f"SpanContext({self.traceparent()})"


INVALID = SpanContext(bytes(16), bytes(8), 0)

_current: contextvars.ContextVar[Any] = contextvars.ContextVar("tailgate_current_span",
                                                               default=None)
_baggage: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "tailgate_baggage", default={})


def as_span_context(context: Any) -> SpanContext:
    """tailgate's SpanContext from either kind of context (or None: the invalid one)."""
    if context is None:
        return INVALID
    if isinstance(context, _types.SpanContext):
        return SpanContext.from_otel(context)
    return context


class NonRecordingSpan:
    """A span that records nothing: what a disabled tracer starts (it carries its parent's context
    on, so a service with tracing off still passes an incoming traceparent to the next one), what
    get_current_span() gives outside any span (INVALID_SPAN), and what extract() puts in a
    Context. Every call a span takes works on it and does nothing."""

    __slots__ = ("context", "name", "_token")

    def __init__(self, span_context: Any = None, name: str = ""):
        self.context = as_span_context(span_context)
        self.name = name
        self._token = None

    def get_span_context(self) -> _types.SpanContext:
        return self.context.to_otel() if self.context.is_valid else _types.INVALID_SPAN_CONTEXT

    def is_recording(self) -> bool:
        return False

    def _nothing(self, *args: Any, **kwargs: Any) -> "NonRecordingSpan":
        return self

    set_attribute = set_attributes = add_event = add_link = set_status = update_name = _nothing
    set_status_error = set_status_ok = record_exception = _nothing

    def end(self, end_time: Optional[int] = None) -> bool:
        return False

    def _finish(self) -> None:
        return None

    def __enter__(self) -> "NonRecordingSpan":
        if self.context.is_valid:
            self._token = _current.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:
                pass
            self._token = None

    def __call__(self, func: Any) -> Any:  # a disabled start_as_current_span as a decorator
        return func

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"NonRecordingSpan({self.context!r})"


INVALID_SPAN = NonRecordingSpan(INVALID)


def current_span() -> Any:
    """The innermost span open in this thread or asyncio task, else INVALID_SPAN (a span that
    records nothing, with an invalid context): never None, so its calls always work."""
    span = _current.get()
    return INVALID_SPAN if span is None else span


# --- OpenTelemetry's Context -------------------------------------------------------------------

_SPAN_KEY = "current-span"
_BAGGAGE_KEY = "baggage"


class Context(dict):
    """An immutable mapping of what a span's parent and the baggage are (OpenTelemetry's Context):
    what extract() returns and start_span(context=...) takes."""

    def __setitem__(self, key: str, value: Any) -> None:
        raise ValueError("tailgate: a Context is immutable (set_value returns a new one)")


def create_key(name: str) -> str:
    return name


def get_current() -> Context:
    values = {}
    span = _current.get()
    if span is not None:
        values[_SPAN_KEY] = span
    baggage = _baggage.get()
    if baggage:
        values[_BAGGAGE_KEY] = baggage
    return Context(values)


def get_value(key: str, context: Optional[Mapping[str, Any]] = None) -> Any:
    return (context if context is not None else get_current()).get(key)


def set_value(key: str, value: Any, context: Optional[Mapping[str, Any]] = None) -> Context:
    values = dict(context if context is not None else get_current())
    values[key] = value
    return Context(values)


def attach(context: Mapping[str, Any]) -> object:
    """Makes `context`'s span and baggage the current ones; detach(token) undoes it."""
    return (_current.set(context.get(_SPAN_KEY)), _baggage.set(context.get(_BAGGAGE_KEY) or {}))


def detach(token: object) -> None:
    span_token, baggage_token = token  # type: ignore[misc]
    try:
        _current.reset(span_token)
        _baggage.reset(baggage_token)
    except ValueError:  # detached in another context than attached: leave it be
        pass


def span_in(context: Optional[Mapping[str, Any]]) -> Any:
    """The span a Context holds (INVALID_SPAN if none); the current one if `context` is None."""
    if context is None:
        return current_span()
    span = context.get(_SPAN_KEY)
    return INVALID_SPAN if span is None else span


def set_span_in_context(span: Any, context: Optional[Mapping[str, Any]] = None) -> Context:
    return set_value(_SPAN_KEY, span, context)
