"""tailgate's Python client: finished spans to the tailgate agent through shared memory.

    import tailgate
    tracer = tailgate.init_tracing("signal-bot", "2.1.0")   # or tailgate.Tracer(...)
    with tracer.span("signal_bot.strategy.generate_signal", symbol="BTCUSDT") as s:
        s.set_attribute("signal.strength", 0.83)
        s.add_event("model.scored", model="momentum")

    @tracer.trace("signal_bot.risk.check", capture_args=1)    # functions and async functions
    def risk_check(signal): ...

    headers = tailgate.inject_context({})                    # W3C traceparent/tracestate
    parent = tailgate.extract_context(headers)

Standard library only. Each span is encoded into the wire format (docs/wire-format.md) and handed
to libtailgate.so, which copies it into this thread's lane of the process's segment: no syscall,
never blocking; a full lane drops the span and counts it. The span is tailgate._native's (C++ over
CPython's API, built and installed with the library: a few interpreter calls per span) where that
module loads, else this file's pure-Python Span, which encodes here and makes one ctypes call per
span. TAILGATE_PYTHON_NATIVE=0 chooses the pure-Python one; =<path> names the module's file.
The current span follows threads and asyncio tasks (contextvars): a span started inside another is
its child.
"""

from __future__ import annotations

import contextvars
import ctypes
import ctypes.util
import functools
import glob
import importlib.machinery
import importlib.util
import inspect
import os
import random
import socket
import struct
import time
import traceback
from typing import Any, Callable, Mapping, MutableMapping, Optional

__all__ = ["Tracer", "Span", "SpanContext", "SpanKind", "current_span", "load_library",
           "DisabledTracer", "inject_context", "extract_context", "init_tracing", "get_tracer",
           "trace", "TraceContextFilter", "instrument_logging", "structlog_processor"]


class SpanKind:
    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


_STATUS_UNSET, _STATUS_OK, _STATUS_ERROR = 0, 1, 2
_SPAN, _ALIGN = 1, 8
# Record header (length, type, schema) and the span's fixed part, in one go.
_FIXED = struct.Struct("<IHH16s8s8sQQBBBBHH")
_ATTR_STR = struct.Struct("<BH")
_U16 = struct.Struct("<H")
_TAG_ATTR, _TAG_EVENT, _TAG_STATUS, _TAG_STATE = b"\x01", b"\x02", b"\x03", b"\x04"
_V_STR, _V_INT, _V_DOUBLE, _V_BOOL = 1, 2, 3, 4
_INT = struct.Struct("<Bq")
_DOUBLE = struct.Struct("<Bd")
_EVENT = struct.Struct("<Q")
_MAX_STR = 0xFFFF
_MAX_RECORD = 65000  # a record must fit one UDP datagram (wire/span_record.hpp)
_ZERO8 = bytes(8)
_PARENT_IS_REMOTE = 1  # span_flags bit 0


def _string(text: str) -> bytes:
    raw = text.encode("utf-8", "replace")[:_MAX_STR]
    return _U16.pack(len(raw)) + raw


# Trading code uses a few dozen keys and symbols over and over: their encodings are kept (bounded,
# so that unbounded values such as order ids cannot grow the caches).
_CACHE_LIMIT = 4096
_key_cache: dict = {}
_text_cache: dict = {}
_name_cache: dict = {}


def _encoded_str(value: str) -> bytes:
    raw = value.encode("utf-8", "replace")[:_MAX_STR]
    return _ATTR_STR.pack(_V_STR, len(raw)) + raw


def _value(value: Any) -> bytes:
    kind = type(value)  # exact types first: the common case, and bool before int
    if kind is str:
        encoded = _text_cache.get(value)
        if encoded is None:
            encoded = _encoded_str(value)
            if len(value) <= 64 and len(_text_cache) < _CACHE_LIMIT:
                _text_cache[value] = encoded
        return encoded
    if kind is float:
        return _DOUBLE.pack(_V_DOUBLE, value)
    if kind is bool:
        return b"\x04\x01" if value else b"\x04\x00"
    if kind is int and -(1 << 63) <= value < (1 << 63):
        return _INT.pack(_V_INT, value)
    # Subclasses (IntEnum, numpy scalars...) and everything else.
    if isinstance(value, bool):
        return bytes((_V_BOOL, 1 if value else 0))
    if isinstance(value, int) and -(1 << 63) <= value < (1 << 63):
        return _INT.pack(_V_INT, int(value))
    if isinstance(value, float):
        return _DOUBLE.pack(_V_DOUBLE, float(value))
    return _encoded_str(value if isinstance(value, str) else str(value))


def _attribute(key: str, value: Any) -> bytes:
    head = _key_cache.get(key)
    if head is None:
        head = _TAG_ATTR + _string(key)
        if len(_key_cache) < _CACHE_LIMIT:
            _key_cache[key] = head
    return head + _value(value)


class SpanContext:
    """What W3C traceparent carries: trace id (16 bytes), span id (8 bytes), flags."""

    __slots__ = ("trace_id", "span_id", "trace_flags", "trace_state", "is_remote")

    def __init__(self, trace_id: bytes, span_id: bytes, trace_flags: int = 1,
                 trace_state: str = "", is_remote: bool = False):
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.trace_state = trace_state
        self.is_remote = is_remote  # came from another process (a traceparent)

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
        header = header.strip()
        parts = header.split("-")
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

    def __repr__(self) -> str:
        return f"SpanContext({self.traceparent()})"


_current: contextvars.ContextVar[Optional["Span"]] = contextvars.ContextVar(
    "tailgate_current_span", default=None)


def current_span() -> Optional["Span"]:
    """The innermost span open in this thread or asyncio task, or None."""
    return _current.get()


class Span:
    """A span in progress; a context manager. Ends (and is handed to the agent) on exit."""

    __slots__ = ("_tracer", "_parts", "_status", "_token", "context", "name", "_ended",
                 "_kind", "_parent_id", "_span_flags", "_start")

    def __init__(self, tracer: "Tracer", name: str, parent: Optional[SpanContext], kind: int,
                 attributes: Mapping[str, Any]):
        getrandbits = random.getrandbits
        if parent is not None:
            trace_id, flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
            self._parent_id = parent.span_id
            self._span_flags = _PARENT_IS_REMOTE if parent.is_remote else 0
        else:
            trace_id, flags, state = getrandbits(128).to_bytes(16, "little"), 1, ""
            self._parent_id = _ZERO8
            self._span_flags = 0
        span_id = (getrandbits(64) | 1).to_bytes(8, "little")
        self.context = SpanContext(trace_id, span_id, flags, state)
        self._tracer = tracer
        self.name = name
        self._kind = kind
        self._status = _STATUS_UNSET
        self._parts = [_attribute(k, v) for k, v in attributes.items()]
        if state:
            self._parts.append(_TAG_STATE + _string(state))
        self._token = None
        self._ended = False
        self._start = time.time_ns()

    # The trading guides' names.
    def set_attribute(self, key: str, value: Any) -> "Span":
        self._parts.append(_attribute(key, value))
        return self

    def set_attributes(self, attributes: Mapping[str, Any]) -> "Span":
        for k, v in attributes.items():
            self._parts.append(_attribute(k, v))
        return self

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None,
                  **more: Any) -> "Span":
        attrs = dict(attributes or {}, **more)
        body = [_TAG_EVENT, _EVENT.pack(time.time_ns()), _string(name), bytes((min(len(attrs), 255),))]
        for i, (k, v) in enumerate(attrs.items()):
            if i == 255:
                break
            body.append(_string(k))
            body.append(_value(v))
        self._parts.append(b"".join(body))
        return self

    def set_status_error(self, message: str = "") -> "Span":
        self._status = _STATUS_ERROR
        if message:
            self._parts.append(_TAG_STATUS + _string(message))
        return self

    def set_status_ok(self) -> "Span":
        self._status = _STATUS_OK
        return self

    def record_exception(self, exc: BaseException, escaped: bool = False) -> "Span":
        """OpenTelemetry's exception event (type, message, stack trace); status ERROR."""
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.add_event("exception", {
            "exception.type": type(exc).__qualname__,
            "exception.message": str(exc),
            "exception.stacktrace": stack,
            "exception.escaped": escaped,
        })
        return self.set_status_error(f"{type(exc).__qualname__}: {exc}")

    def end(self) -> bool:
        """Ends the span now (later calls do nothing). False if it was dropped."""
        record = self._finish()
        return record is not None and self._tracer._emit(record, len(self._parts))

    def _finish(self) -> Optional[bytes]:
        """Ends the span and returns its encoded record (None if it had ended already)."""
        if self._ended:
            return None
        self._ended = True
        end = time.time_ns()
        ctx = self.context
        name = _name_cache.get(self.name)
        if name is None:
            name = self.name.encode("utf-8", "replace")[:_MAX_STR]
            if len(_name_cache) < _CACHE_LIMIT:
                _name_cache[self.name] = name
        length = _FIXED.size + len(name) + sum(map(len, self._parts))
        while length > _MAX_RECORD and self._parts:  # leave out the biggest items, counted
            biggest = max(self._parts, key=len)
            self._parts.remove(biggest)
            length -= len(biggest)
            self._tracer.dropped_items += 1
        body = b"".join(self._parts)
        head = _FIXED.pack(length, _SPAN, 1, ctx.trace_id, ctx.span_id, self._parent_id,
                           self._start, end, self._kind, self._status, ctx.trace_flags,
                           self._span_flags,
                           len(name), len(self._parts))
        return head + name + body

    def __enter__(self) -> "Span":
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is not None:
                self.record_exception(exc, escaped=True)  # may raise (a __str__ that does)
        finally:
            if self._token is not None:
                try:
                    _current.reset(self._token)
                except ValueError:  # exited in another context than entered: leave it be
                    pass
                self._token = None
            self.end()


def load_library(path: Optional[str] = None) -> ctypes.CDLL:
    """libtailgate.so: `path`, $TAILGATE_LIBRARY, or the system's (ldconfig)."""
    candidates = [path, os.environ.get("TAILGATE_LIBRARY"), ctypes.util.find_library("tailgate"),
                  "libtailgate.so.0"]
    errors = []
    for candidate in candidates:
        if not candidate:
            continue
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as e:
            errors.append(str(e))
            continue
        lib.tailgate_tracer_new.restype = ctypes.c_void_p
        lib.tailgate_tracer_new.argtypes = [ctypes.POINTER(ctypes.c_char_p),
                                            ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                            ctypes.c_void_p]
        lib.tailgate_tracer_free.argtypes = [ctypes.c_void_p]
        lib.tailgate_error.restype = ctypes.c_char_p
        lib.tailgate_error.argtypes = [ctypes.c_void_p]
        lib.tailgate_emit.restype = ctypes.c_int
        lib.tailgate_emit.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.tailgate_emit_batch.restype = ctypes.c_size_t
        lib.tailgate_emit_batch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.tailgate_stats_get.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Stats)]
        return lib
    raise OSError("libtailgate.so not found (set TAILGATE_LIBRARY): " + "; ".join(errors))


class _Options(ctypes.Structure):
    _fields_ = [("directory", ctypes.c_char_p), ("lanes", ctypes.c_uint32),
                ("lane_bytes", ctypes.c_uint64)]


class _Stats(ctypes.Structure):
    _fields_ = [("dropped", ctypes.c_uint64), ("dropped_items", ctypes.c_uint64),
                ("attached", ctypes.c_int)]


class Tracer:
    """The process's tracer (one per process): owns its shared-memory segment."""

    enabled = True

    def __init__(self, service_name: str, service_version: str = "",
                 resource: Optional[Mapping[str, str]] = None, directory: Optional[str] = None,
                 lanes: int = 0, lane_bytes: int = 0, library: Optional[str] = None):
        self._lib = load_library(library)
        attrs = {"service.name": service_name, "host.name": socket.gethostname(),
                 "telemetry.sdk.name": "tailgate", "telemetry.sdk.language": "python"}
        if service_version:
            attrs["service.version"] = service_version
        attrs.update(resource or {})
        keys = (ctypes.c_char_p * len(attrs))(*[k.encode() for k in attrs])
        values = (ctypes.c_char_p * len(attrs))(*[str(v).encode() for v in attrs.values()])
        options = _Options(directory.encode() if directory else None, lanes, lane_bytes)
        handle = self._lib.tailgate_tracer_new(keys, values, len(attrs), ctypes.byref(options))
        if not handle:
            raise RuntimeError("tailgate: one Tracer per process, and one exists already")
        self._handle = handle
        self._emit_one = self._lib.tailgate_emit
        self.dropped_items = 0
        # The native span where its module loads: Tracer.span and _start (the decorators') are
        # then the module's own functions, with no Python frame of ours per span.
        self._emitter = None
        native = _native_module(getattr(self._lib, "_name", None))
        if native is not None:
            self._emitter = native.Emitter(
                handle, ctypes.cast(self._lib.tailgate_emit, ctypes.c_void_p).value)
            self.span = self._emitter.span
            self._start = self._emitter.start

    @property
    def native(self) -> bool:
        """Whether spans are tailgate._native's (else the pure-Python Span)."""
        return self._emitter is not None

    @property
    def error(self) -> str:
        """Why there is no shared-memory segment (then every span is dropped), or ""."""
        return self._lib.tailgate_error(self._handle).decode()

    def span(self, name: str, parent: Optional[SpanContext] = None,
             kind: int = SpanKind.INTERNAL, **attributes: Any) -> Span:
        """A span: a child of `parent`, else of the current span, else a new trace's root."""
        return self._start(name, parent, kind, attributes)

    def _start(self, name: str, parent: Optional[SpanContext], kind: int,
               attributes: Mapping[str, Any]) -> Span:
        if parent is None:
            current = _current.get()
            if current is not None:
                parent = current.context
        return Span(self, name, parent, kind, attributes)

    def trace(self, name: Any = None, *, attributes: Optional[Mapping[str, Any]] = None,
              capture_args: int = 0, kind: int = SpanKind.INTERNAL) -> Callable:
        """Decorates a function or `async def` coroutine function: each call is a span (a child
        of the current span) named `name` (default: module.qualname), with `attributes`, the
        function's code.function/code.namespace, and its first `capture_args` arguments as
        `arg.<parameter>` (self and cls left out). An exception escaping the call is recorded and
        sets status ERROR. `@tracer.trace` works without parentheses too."""
        if callable(name):
            return _traced(lambda: self, None, attributes, capture_args, kind)(name)
        return _traced(lambda: self, name, attributes, capture_args, kind)

    def _emit(self, record: bytes, items: int) -> bool:
        if items > 0xFFFF or len(record) > _MAX_RECORD:
            self.dropped_items += items
            return False
        if not self._handle:  # closed
            return False
        return self._emit_one(self._handle, record, len(record)) == 1

    def end_all(self, spans: list[Span]) -> int:
        """Ends several spans with one foreign call (a loop that makes many short spans pays
        the call once); returns how many were written."""
        records = [r for r in (s._finish() for s in spans) if r is not None]
        data = b"".join(r + bytes(-len(r) % _ALIGN) for r in records)
        return self._lib.tailgate_emit_batch(self._handle, data, len(data))

    def stats(self) -> dict:
        s = _Stats()
        if self._handle:  # else closed: what this module counted
            self._lib.tailgate_stats_get(self._handle, ctypes.byref(s))
        dropped, dropped_items = self._emitter.counts() if self._emitter is not None else (0, 0)
        return {"dropped": s.dropped + dropped,
                "dropped_items": s.dropped_items + self.dropped_items + dropped_items,
                "attached": bool(s.attached)}

    def close(self) -> None:
        """Gives up the segment handle; committed spans still reach the agent (spans ended
        after this are dropped)."""
        if self._handle:
            if self._emitter is not None:
                self._emitter.close()
            self._lib.tailgate_tracer_free(self._handle)
            self._handle = None

    def inject(self, headers: MutableMapping[str, str], span: Optional[Span] = None) -> None:
        """Adds W3C traceparent (and tracestate) of `span` or the current span to `headers`."""
        inject_context(headers, span)

    @staticmethod
    def extract(headers: Mapping[str, str]) -> Optional[SpanContext]:
        """The SpanContext in W3C headers (any letter case), or None."""
        return extract_context(headers)


# --- the native span -----------------------------------------------------------------------

_NATIVE_MODULE = None  # tailgate._native once loaded and set up


def _native_module(library_path: Optional[str]):
    """tailgate._native, set up, or None (then spans are the pure-Python Span). Looked for as
    $TAILGATE_PYTHON_NATIVE, in this package (installed) and beside libtailgate.so (a build
    tree); a module built for another Python does not load and is passed over."""
    global _NATIVE_MODULE
    choice = os.environ.get("TAILGATE_PYTHON_NATIVE", "")
    if choice.strip().lower() in ("0", "false", "no", "off"):
        return None
    if _NATIVE_MODULE is not None:
        return _NATIVE_MODULE
    directories = [os.path.dirname(os.path.abspath(__file__))]
    if library_path and os.path.dirname(library_path):
        directories.append(os.path.dirname(os.path.abspath(library_path)))
    candidates = [choice] if choice and choice.lower() not in ("1", "true", "yes", "on") else []
    for directory in directories:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            candidates += glob.glob(os.path.join(glob.escape(directory), "_native" + suffix))
    for path in candidates:
        spec = importlib.util.spec_from_file_location("tailgate._native", path)
        if spec is None or spec.loader is None:  # not an extension module's file name
            continue
        try:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except (ImportError, OSError):
            continue

        class NativeSpan(module.Span):
            """A span in progress; a context manager. Ends (and is handed to the agent) on exit.
            The same calls as the pure-Python Span."""
            __slots__ = ()
            record_exception = Span.record_exception

        module.setup(_current, SpanContext, NativeSpan)
        _NATIVE_MODULE = module
        return module
    return None


# --- the decorator --------------------------------------------------------------------------

_ARG_TEXT_LIMIT = 256  # a captured argument that is not a number or short text: its repr, cut
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _argument_spec(func: Callable, count: int) -> list:
    """(attribute key, positional index or None) of the first `count` parameters."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature
        return []
    spec = []
    for index, p in enumerate(params):
        if index == 0 and p.name in ("self", "cls") and p.kind in _POSITIONAL:
            continue
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        spec.append(("arg." + p.name, index if p.kind in _POSITIONAL else None, p.name))
        if len(spec) == count:
            break
    return spec


def _argument_value(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value if len(value) <= _ARG_TEXT_LIMIT else value[:_ARG_TEXT_LIMIT]
    if kind in (int, float, bool) or isinstance(value, (int, float)):
        return value
    return repr(value)[:_ARG_TEXT_LIMIT]


def _captured(spec: list, args: tuple, kwargs: Mapping[str, Any], into: dict) -> dict:
    for key, index, name in spec:
        if index is not None and index < len(args):
            into[key] = _argument_value(args[index])
        elif name in kwargs:
            into[key] = _argument_value(kwargs[name])
    return into


def _traced(resolve: Callable[[], Any], name: Optional[str],
            attributes: Optional[Mapping[str, Any]], capture_args: int, kind: int) -> Callable:
    """The decorator behind Tracer.trace and trace(): `resolve` gives the tracer at call time
    (None: the call is not traced)."""
    if capture_args < 0:
        raise ValueError("tailgate: capture_args must be >= 0")

    def decorate(func: Callable) -> Callable:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(f"tailgate: trace() takes functions and coroutine functions; "
                            f"{func.__qualname__} is a generator (open a span inside it instead)")
        span_name = name or f"{func.__module__}.{func.__qualname__}"
        static = {"code.function": func.__qualname__, "code.namespace": func.__module__}
        static.update(attributes or {})
        spec = _argument_spec(func, capture_args) if capture_args else []

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def traced_coroutine(*args: Any, **kwargs: Any) -> Any:
                tracer = resolve()
                if tracer is None:
                    return await func(*args, **kwargs)
                attrs = _captured(spec, args, kwargs, dict(static)) if spec else static
                with tracer._start(span_name, None, kind, attrs):
                    return await func(*args, **kwargs)
            return traced_coroutine

        @functools.wraps(func)
        def traced(*args: Any, **kwargs: Any) -> Any:
            tracer = resolve()
            if tracer is None:
                return func(*args, **kwargs)
            attrs = _captured(spec, args, kwargs, dict(static)) if spec else static
            with tracer._start(span_name, None, kind, attrs):
                return func(*args, **kwargs)
        return traced

    return decorate


# --- tracing switched off -------------------------------------------------------------------

class _NonRecordingSpan:
    """A span of a DisabledTracer: records nothing, but carries its parent's context on, so a
    service with tracing off still passes an incoming traceparent to the next one."""

    __slots__ = ("context", "name", "_token")

    def __init__(self, name: str, context: Optional[SpanContext]):
        self.name = name
        self.context = context
        self._token = None

    def set_attribute(self, key: str, value: Any) -> "_NonRecordingSpan":
        return self

    def set_attributes(self, attributes: Mapping[str, Any]) -> "_NonRecordingSpan":
        return self

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None,
                  **more: Any) -> "_NonRecordingSpan":
        return self

    def set_status_error(self, message: str = "") -> "_NonRecordingSpan":
        return self

    def set_status_ok(self) -> "_NonRecordingSpan":
        return self

    def record_exception(self, exc: BaseException, escaped: bool = False) -> "_NonRecordingSpan":
        return self

    def end(self) -> bool:
        return False

    def _finish(self) -> None:
        return None

    def __enter__(self) -> "_NonRecordingSpan":
        if self.context is not None:
            self._token = _current.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:
                pass
            self._token = None


class DisabledTracer:
    """What init_tracing() returns when tracing is switched off, or when libtailgate.so cannot be
    loaded: the Tracer's calls, recording nothing (trace() returns the function itself)."""

    enabled = False

    def __init__(self, reason: str = "tracing is disabled"):
        self.error = reason

    def span(self, name: str, parent: Optional[SpanContext] = None,
             kind: int = SpanKind.INTERNAL, **attributes: Any) -> _NonRecordingSpan:
        return self._start(name, parent, kind, attributes)

    def _start(self, name: str, parent: Optional[SpanContext], kind: int,
               attributes: Mapping[str, Any]) -> _NonRecordingSpan:
        if parent is None:
            current = _current.get()
            parent = current.context if current is not None else None
        return _NonRecordingSpan(name, parent)

    def trace(self, name: Any = None, **options: Any) -> Callable:
        if callable(name):
            return name
        return lambda func: func

    def end_all(self, spans: list) -> int:
        return 0

    def stats(self) -> dict:
        return {"dropped": 0, "dropped_items": 0, "attached": False}

    def close(self) -> None:
        pass

    def inject(self, headers: MutableMapping[str, str], span: Any = None) -> None:
        inject_context(headers, span)

    @staticmethod
    def extract(headers: Mapping[str, str]) -> Optional[SpanContext]:
        return extract_context(headers)


# --- context propagation (W3C Trace Context) ------------------------------------------------

def inject_context(headers: MutableMapping[str, str], span: Any = None) -> MutableMapping[str, str]:
    """Adds `traceparent` (and `tracestate`) for `span`, else the current span, to `headers`;
    returns `headers`. Does nothing without a span."""
    span = span if span is not None else _current.get()
    if span is None or span.context is None:
        return headers
    headers["traceparent"] = span.context.traceparent()
    if span.context.trace_state:
        headers["tracestate"] = span.context.trace_state
    return headers


def extract_context(headers: Mapping[str, Any]) -> Optional[SpanContext]:
    """The SpanContext in W3C `traceparent`/`tracestate` headers (names in any letter case; a
    list value, as some frameworks give, counts by its first item), or None."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    value = lowered.get("traceparent")
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    state = lowered.get("tracestate") or ""
    if isinstance(state, (list, tuple)):
        state = ",".join(str(s) for s in state)
    if isinstance(state, bytes):
        state = state.decode("latin-1")
    return SpanContext.from_traceparent(value, str(state).strip())


# --- the process's tracer ------------------------------------------------------------------

def trace(name: Any = None, *, attributes: Optional[Mapping[str, Any]] = None,
          capture_args: int = 0, kind: int = SpanKind.INTERNAL) -> Callable:
    """Tracer.trace for module-level functions decorated before the tracer exists: each call uses
    the tracer init_tracing() made (before init_tracing, calls run untraced)."""
    if callable(name):
        return _traced(_global.get_tracer, None, attributes, capture_args, kind)(name)
    return _traced(_global.get_tracer, name, attributes, capture_args, kind)


from .logs import TraceContextFilter, instrument_logging, structlog_processor  # noqa: E402
from . import _global  # noqa: E402
from ._global import get_tracer, init_tracing  # noqa: E402
