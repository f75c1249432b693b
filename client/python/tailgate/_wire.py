"""The record format (docs/wire-format.md) as the pure-Python span writes it."""

from __future__ import annotations

import json
import struct
from typing import Any

_SPAN, _ALIGN = 1, 8
# Record header (length, type, schema) and the span's fixed part, in one go.
FIXED = struct.Struct("<IHH16s8s8sQQBBBBHH")
_ATTR_STR = struct.Struct("<BH")
_U16 = struct.Struct("<H")
TAG_ATTR, TAG_EVENT, TAG_STATUS, TAG_STATE = b"\x01", b"\x02", b"\x03", b"\x04"
_DROPPED = struct.Struct("<BHH")  # tag 5: attributes and events the producer left out
DROPPED_SIZE = _DROPPED.size
TAG_LINK = b"\x06"  # trace id, span id, trace state, attributes
_V_STR, _V_INT, _V_DOUBLE, _V_BOOL, _V_ARRAY = 1, 2, 3, 4, 5
MAX_ARRAY = 0xFFFF  # an array's count is a u16
_ARRAY = struct.Struct("<BBH")  # type 5, element type, count
_INT = struct.Struct("<Bq")
_DOUBLE = struct.Struct("<Bd")
EVENT_TIME = struct.Struct("<Q")
MAX_STR = 0xFFFF
MAX_RECORD = 65000  # a record must fit one UDP datagram (wire/span_record.hpp)
MAX_EVENT_ATTRIBUTES = 255
SPAN, ALIGN = _SPAN, _ALIGN


def string(text: str) -> bytes:
    raw = text.encode("utf-8", "replace")[:MAX_STR]
    return _U16.pack(len(raw)) + raw


# Trading code uses a few dozen keys and symbols over and over: their encodings are kept (bounded,
# so that unbounded values such as order ids cannot grow the caches).
_CACHE_LIMIT = 4096
_key_cache: dict = {}
_text_cache: dict = {}
_name_cache: dict = {}


def _encoded_str(value: str) -> bytes:
    raw = value.encode("utf-8", "replace")[:MAX_STR]
    return _ATTR_STR.pack(_V_STR, len(raw)) + raw


def value(v: Any) -> bytes:
    kind = type(v)  # exact types first: the common case, and bool before int
    if kind is str:
        encoded = _text_cache.get(v)
        if encoded is None:
            encoded = _encoded_str(v)
            if len(v) <= 64 and len(_text_cache) < _CACHE_LIMIT:
                _text_cache[v] = encoded
        return encoded
    if kind is float:
        return _DOUBLE.pack(_V_DOUBLE, v)
    if kind is bool:
        return b"\x04\x01" if v else b"\x04\x00"
    if kind is int and -(1 << 63) <= v < (1 << 63):
        return _INT.pack(_V_INT, v)
    # Subclasses (IntEnum, numpy scalars...) and everything else.
    if isinstance(v, bool):
        return bytes((_V_BOOL, 1 if v else 0))
    if isinstance(v, int) and -(1 << 63) <= v < (1 << 63):
        return _INT.pack(_V_INT, int(v))
    if isinstance(v, float):
        return _DOUBLE.pack(_V_DOUBLE, float(v))
    if isinstance(v, (list, tuple)):
        encoded = array(v)
        # Mixed types (or None, or what has no wire type): kept as text, as any such value is.
        return encoded if encoded is not None else _encoded_str(array_text(v))
    return _encoded_str(v if isinstance(v, str) else str(v))


def _element_type(v: Any) -> int:
    """The wire type an array element would have as a value of its own; 0 for none."""
    if isinstance(v, str):
        return _V_STR
    if isinstance(v, float):
        return _V_DOUBLE
    if isinstance(v, bool):
        return _V_BOOL
    if isinstance(v, int) and -(1 << 63) <= v < (1 << 63):
        return _V_INT
    return 0


def array(v: Any) -> bytes | None:
    """A list or tuple of one type (str, int, float or bool) as an array value (OTLP's
    ArrayValue, as OpenTelemetry's API takes them); None for any other."""
    if len(v) > MAX_ARRAY:
        return None
    element = _element_type(v[0]) if v else _V_STR
    if element == 0 or any(_element_type(e) != element for e in v):
        return None
    head = _ARRAY.pack(_V_ARRAY, element, len(v))
    if element == _V_STR:
        return head + b"".join(string(e) for e in v)
    if element == _V_INT:
        return head + struct.pack(f"<{len(v)}q", *v)
    if element == _V_DOUBLE:
        return head + struct.pack(f"<{len(v)}d", *v)
    return head + bytes(1 if e else 0 for e in v)


def array_text(v: Any) -> str:
    """A list or tuple that is not an array (mixed types, None...) as text: compact JSON, as the
    agent's OTLP receiver writes such OTLP arrays (what JSON has no form for, as str())."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=str)


def attribute(key: str, v: Any) -> bytes:
    if not isinstance(key, str):
        raise TypeError(f"tailgate: attribute keys are str, not {type(key).__name__}")
    head = _key_cache.get(key)
    if head is None:
        head = TAG_ATTR + string(key)
        if len(_key_cache) < _CACHE_LIMIT:
            _key_cache[key] = head
    return head + value(v)


def event(time_ns: int, name: str, attrs: Any) -> bytes:
    """An event item: at most 255 attributes (the rest left out)."""
    items = list(attrs.items())[:MAX_EVENT_ATTRIBUTES] if attrs else []
    body = [TAG_EVENT, EVENT_TIME.pack(time_ns), string(name), bytes((len(items),))]
    for k, v in items:
        if not isinstance(k, str):
            raise TypeError("tailgate: attribute keys are str")
        body.append(string(k))
        body.append(value(v))
    return b"".join(body)


def link(trace_id: bytes, span_id: bytes, trace_state: str, attrs: Any) -> bytes:
    """A link item: at most 255 attributes (the rest left out)."""
    items = list(attrs.items())[:MAX_EVENT_ATTRIBUTES] if attrs else []
    body = [TAG_LINK, trace_id, span_id, string(trace_state), bytes((len(items),))]
    for k, v in items:
        if not isinstance(k, str):
            raise TypeError("tailgate: attribute keys are str")
        body.append(string(k))
        body.append(value(v))
    return b"".join(body)


def name(text: str) -> bytes:
    raw = _name_cache.get(text)
    if raw is None:
        raw = text.encode("utf-8", "replace")[:MAX_STR]
        if len(_name_cache) < _CACHE_LIMIT:
            _name_cache[text] = raw
    return raw


def dropped(attributes: int, events: int) -> bytes:
    return _DROPPED.pack(5, min(attributes, 0xFFFF), min(events, 0xFFFF))
