"""The value types of OpenTelemetry's trace API (names and meanings from its specification), as
tailgate.trace gives them: SpanKind, StatusCode, Status, TraceFlags, TraceState, SpanContext."""

from __future__ import annotations

import enum
import re
from typing import Iterator, Mapping, Optional, Sequence, Tuple


class SpanKind(enum.IntEnum):
    """OTLP's numbering (what the record carries), so a kind is passed on as it is."""
    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(enum.IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2


class Status:
    """A span's status: a code and, for ERROR only, a description."""

    __slots__ = ("_status_code", "_description")

    def __init__(self, status_code: StatusCode = StatusCode.UNSET,
                 description: Optional[str] = None):
        self._status_code = StatusCode(status_code)
        # The specification: a description goes with ERROR only.
        self._description = description if self._status_code is StatusCode.ERROR else None

    @property
    def status_code(self) -> StatusCode:
        return self._status_code

    @property
    def description(self) -> Optional[str]:
        return self._description

    @property
    def is_ok(self) -> bool:
        return self._status_code is not StatusCode.ERROR

    @property
    def is_unset(self) -> bool:
        return self._status_code is StatusCode.UNSET

    def __repr__(self) -> str:
        return f"Status({self._status_code.name}, {self._description!r})"


class TraceFlags(int):
    DEFAULT = 0x00
    SAMPLED = 0x01

    @classmethod
    def get_default(cls) -> "TraceFlags":
        return cls(cls.DEFAULT)

    @property
    def sampled(self) -> bool:
        return bool(self & TraceFlags.SAMPLED)


DEFAULT_TRACE_OPTIONS = TraceFlags.get_default()

# W3C tracestate: list members key=value, at most 32 (the specification's limit).
_KEY = re.compile(r"^(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})$")
_VALUE = re.compile(r"^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$")
_MAX_MEMBERS = 32


class TraceState(Mapping[str, str]):
    """W3C tracestate: an immutable, ordered mapping (the newest entry first)."""

    def __init__(self, entries: Optional[Sequence[Tuple[str, str]]] = None):
        self._d: dict = {}
        for key, value in entries or ():
            if _KEY.match(key) and _VALUE.match(value) and key not in self._d \
                    and len(self._d) < _MAX_MEMBERS:
                self._d[key] = value

    def __getitem__(self, key: str) -> str:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"TraceState({list(self._d.items())!r})"

    def add(self, key: str, value: str) -> "TraceState":
        if key in self._d:
            return self
        return TraceState([(key, value)] + list(self._d.items()))

    def update(self, key: str, value: str) -> "TraceState":
        if key not in self._d:
            return self
        return TraceState([(key, value)] + [(k, v) for k, v in self._d.items() if k != key])

    def delete(self, key: str) -> "TraceState":
        return TraceState([(k, v) for k, v in self._d.items() if k != key])

    def to_header(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self._d.items())

    @classmethod
    def from_header(cls, header_list: Sequence[str]) -> "TraceState":
        entries = []
        for header in header_list:
            for member in header.split(","):
                key, sep, value = member.strip().partition("=")
                if sep:
                    entries.append((key, value))
        return cls(entries)


DEFAULT_TRACE_STATE = TraceState()
INVALID_TRACE_ID = 0
INVALID_SPAN_ID = 0


class SpanContext:
    """OpenTelemetry's SpanContext: ids as ints (format_trace_id gives their hex)."""

    __slots__ = ("trace_id", "span_id", "is_remote", "trace_flags", "trace_state")

    def __init__(self, trace_id: int, span_id: int, is_remote: bool,
                 trace_flags: Optional[int] = DEFAULT_TRACE_OPTIONS,
                 trace_state: Optional[TraceState] = DEFAULT_TRACE_STATE):
        self.trace_id = trace_id
        self.span_id = span_id
        self.is_remote = is_remote
        self.trace_flags = TraceFlags(trace_flags or 0)
        self.trace_state = trace_state if trace_state is not None else DEFAULT_TRACE_STATE

    @property
    def is_valid(self) -> bool:
        return 0 < self.trace_id < 1 << 128 and 0 < self.span_id < 1 << 64

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SpanContext) and self.trace_id == other.trace_id
                and self.span_id == other.span_id and self.is_remote == other.is_remote
                and self.trace_flags == other.trace_flags)

    def __hash__(self) -> int:
        return hash((self.trace_id, self.span_id, self.is_remote, int(self.trace_flags)))

    def __repr__(self) -> str:
        return (f"SpanContext(trace_id=0x{self.trace_id:032x}, span_id=0x{self.span_id:016x}, "
                f"trace_flags=0x{self.trace_flags:02x}, trace_state={self.trace_state!r}, "
                f"is_remote={self.is_remote})")


INVALID_SPAN_CONTEXT = SpanContext(INVALID_TRACE_ID, INVALID_SPAN_ID, False)


def format_trace_id(trace_id: int) -> str:
    return f"{trace_id:032x}"


def format_span_id(span_id: int) -> str:
    return f"{span_id:016x}"
