"""Context across processes, as opentelemetry.propagate: inject() writes the current span's context
(and baggage) into a carrier of headers, extract() reads one back as a Context for
start_as_current_span(context=...).

    from tailgate import propagate        # was: from opentelemetry import propagate
    propagate.inject(headers)
    ctx = propagate.extract(request.headers)

Formats: W3C trace context (traceparent, tracestate), W3C baggage, B3 (one `b3` header, or the
X-B3-* headers) and Jaeger (uber-trace-id, uberctx-* baggage). extract() reads any of them
(traceparent first); inject() writes those OTEL_PROPAGATORS names (tracecontext, baggage, b3,
b3multi, jaeger; default tracecontext,baggage), or the `formats` given.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any, Iterable, Mapping, MutableMapping, Optional

from . import _context
from ._context import _BAGGAGE_KEY, _SPAN_KEY, Context, NonRecordingSpan, SpanContext

__all__ = ["inject", "extract", "inject_context", "extract_context"]

_HEX = frozenset("0123456789abcdef")
_MAX_BAGGAGE_BYTES, _MAX_BAGGAGE_ENTRIES = 8192, 180  # W3C baggage's limits


class _DictAccess:
    """The default getter and setter: a mapping of header names (any letter case) to values."""

    @staticmethod
    def get(carrier: Mapping[str, Any], key: str) -> Optional[list]:
        value = carrier.get(key)
        if value is None:
            lowered = key.lower()
            for k, v in carrier.items():
                if str(k).lower() == lowered:
                    value = v
                    break
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            return [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in value]
        return [value.decode("latin-1") if isinstance(value, bytes) else str(value)]

    @staticmethod
    def keys(carrier: Mapping[str, Any]) -> list:
        return [str(k) for k in carrier]

    @staticmethod
    def set(carrier: MutableMapping[str, str], key: str, value: str) -> None:
        carrier[key] = value


default_getter = default_setter = _DictAccess()


def _first(getter: Any, carrier: Any, key: str) -> Optional[str]:
    values = getter.get(carrier, key)
    return values[0].strip() if values else None


def _hex_id(text: Optional[str], digits: int) -> Optional[bytes]:
    """A lowercase hex id of up to `digits` digits, left-padded (64-bit B3/Jaeger trace ids)."""
    if not text or len(text) > digits or not set(text.lower()) <= _HEX:
        return None
    raw = bytes.fromhex(text.lower().rjust(digits, "0"))
    return raw if any(raw) else None


def _w3c(getter: Any, carrier: Any) -> Optional[SpanContext]:
    header = _first(getter, carrier, "traceparent")
    if header is None:
        return None
    states = getter.get(carrier, "tracestate") or []
    return SpanContext.from_traceparent(header, ",".join(s.strip() for s in states))


def _b3_single(getter: Any, carrier: Any) -> Optional[SpanContext]:
    header = _first(getter, carrier, "b3")
    if not header:
        return None
    parts = header.split("-")
    if len(parts) < 2:
        return None  # "0", "1", "d": a sampling decision alone
    trace_id, span_id = _hex_id(parts[0], 32), _hex_id(parts[1], 16)
    if trace_id is None or span_id is None or len(parts[1]) != 16:
        return None
    sampled = parts[2] if len(parts) > 2 else "1"
    return SpanContext(trace_id, span_id, 0 if sampled == "0" else 1, "", is_remote=True)


def _b3_multi(getter: Any, carrier: Any) -> Optional[SpanContext]:
    trace_id = _hex_id(_first(getter, carrier, "x-b3-traceid"), 32)
    span_text = _first(getter, carrier, "x-b3-spanid")
    span_id = _hex_id(span_text, 16)
    if trace_id is None or span_id is None or len(span_text or "") != 16:
        return None
    sampled = _first(getter, carrier, "x-b3-sampled")
    debug = _first(getter, carrier, "x-b3-flags") == "1"
    flags = 0 if sampled in ("0", "false") and not debug else 1
    return SpanContext(trace_id, span_id, flags, "", is_remote=True)


def _jaeger(getter: Any, carrier: Any) -> Optional[SpanContext]:
    header = _first(getter, carrier, "uber-trace-id")
    if not header:
        return None
    parts = urllib.parse.unquote(header).split(":")
    if len(parts) != 4:
        return None
    trace_id, span_id = _hex_id(parts[0], 32), _hex_id(parts[1], 16)
    try:
        flags = int(parts[3], 16)
    except ValueError:
        return None
    if trace_id is None or span_id is None:
        return None
    return SpanContext(trace_id, span_id, 1 if flags & 0x3 else 0, "", is_remote=True)


def _baggage_of(getter: Any, carrier: Any) -> dict:
    entries: dict = {}
    for header in getter.get(carrier, "baggage") or []:
        if len(header) > _MAX_BAGGAGE_BYTES:
            continue
        for member in header.split(","):
            key, sep, value = member.split(";", 1)[0].partition("=")
            if sep and key.strip() and len(entries) < _MAX_BAGGAGE_ENTRIES:
                entries[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    for key in getter.keys(carrier):
        if key.lower().startswith("uberctx-") and len(entries) < _MAX_BAGGAGE_ENTRIES:
            value = _first(getter, carrier, key)
            if value is not None:
                entries[key[len("uberctx-"):].lower()] = urllib.parse.unquote(value)
    return entries


def extract(carrier: Any, context: Optional[Mapping[str, Any]] = None,
            getter: Any = default_getter) -> Context:
    """`context` (default: an empty one) with the span context and baggage found in `carrier`."""
    values = dict(context or {})
    for read in (_w3c, _b3_single, _b3_multi, _jaeger):
        found = read(getter, carrier)
        if found is not None:
            values[_SPAN_KEY] = NonRecordingSpan(found)
            break
    baggage = _baggage_of(getter, carrier)
    if baggage:
        values[_BAGGAGE_KEY] = dict(values.get(_BAGGAGE_KEY) or {}, **baggage)
    return Context(values)


def _formats() -> list:
    names = os.environ.get("OTEL_PROPAGATORS", "tracecontext,baggage")
    return [n.strip().lower() for n in names.split(",") if n.strip()]


def inject(carrier: Any, context: Optional[Mapping[str, Any]] = None,
           setter: Any = default_setter, formats: Optional[Iterable[str]] = None) -> None:
    """Writes the span context and baggage of `context` (default: the current ones) into
    `carrier`, in each of `formats` (default: $OTEL_PROPAGATORS, else tracecontext,baggage)."""
    span = _context.span_in(context)
    baggage = (_context._baggage.get() if context is None else context.get(_BAGGAGE_KEY)) or {}
    ctx = span.context
    for name in (_formats() if formats is None else formats):
        if name == "baggage" and baggage:
            setter.set(carrier, "baggage", ",".join(
                f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(str(v), safe='')}"
                for k, v in baggage.items()))
        if not ctx.is_valid:
            continue
        trace, span_hex, sampled = ctx.trace_id.hex(), ctx.span_id.hex(), ctx.trace_flags & 1
        if name == "tracecontext":
            setter.set(carrier, "traceparent", ctx.traceparent())
            if ctx.trace_state:
                setter.set(carrier, "tracestate", ctx.trace_state)
        elif name == "b3":
            setter.set(carrier, "b3", f"{trace}-{span_hex}-{sampled}")
        elif name == "b3multi":
            setter.set(carrier, "X-B3-TraceId", trace)
            setter.set(carrier, "X-B3-SpanId", span_hex)
            setter.set(carrier, "X-B3-Sampled", str(sampled))
        elif name == "jaeger":
            setter.set(carrier, "uber-trace-id", f"{trace}:{span_hex}:0:{sampled}")


# --- the earlier names (W3C trace context only) ------------------------------------------------

def inject_context(headers: MutableMapping[str, str], span: Any = None) -> MutableMapping[str, str]:
    """Adds `traceparent` (and `tracestate`) for `span`, else the current span, to `headers`;
    returns `headers`. Does nothing without a (valid) span."""
    span = span if span is not None else _context.current_span()
    inject(headers, Context({_SPAN_KEY: span}), formats=("tracecontext",))
    return headers


def extract_context(headers: Mapping[str, Any]) -> Optional[SpanContext]:
    """The SpanContext in `headers` (W3C, else B3 or Jaeger; names in any letter case; a list
    value, as some frameworks give, counts by its first item), or None."""
    span = extract(headers).get(_SPAN_KEY)
    return None if span is None else span.context
