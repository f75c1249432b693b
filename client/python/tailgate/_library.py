"""libtailgate.so through ctypes, and tailgate._native (the span in C++) where it loads."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.machinery
import importlib.util
import os
from typing import Any, Optional

from . import _context
from ._span import SpanAPI


class Options(ctypes.Structure):
    _fields_ = [("directory", ctypes.c_char_p), ("lanes", ctypes.c_uint32),
                ("lane_bytes", ctypes.c_uint64)]


class Stats(ctypes.Structure):
    _fields_ = [("dropped", ctypes.c_uint64), ("dropped_items", ctypes.c_uint64),
                ("attached", ctypes.c_int)]


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
        lib.tailgate_stats_get.argtypes = [ctypes.c_void_p, ctypes.POINTER(Stats)]
        if hasattr(lib, "tailgate_agent_reading"):  # an older libtailgate.so has not
            lib.tailgate_agent_reading.restype = ctypes.c_int
            lib.tailgate_agent_reading.argtypes = [ctypes.c_void_p,
                                                   ctypes.POINTER(ctypes.c_int64)]
        return lib
    raise OSError("libtailgate.so not found (set TAILGATE_LIBRARY): " + "; ".join(errors))


_NATIVE_MODULE: Any = None  # tailgate._native once loaded and set up


def native_module(library_path: Optional[str]) -> Any:
    """tailgate._native, set up, or None (then spans are the pure-Python Span). Looked for as
    $TAILGATE_PYTHON_NATIVE, in this package (installed) and beside libtailgate.so (a build
    tree); a module built for another Python, or an older one, does not load and is passed over."""
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
        if not hasattr(module.Emitter, "start_as_current_span"):  # built from older sources
            continue

        class NativeSpan(module.Span):
            """A span in progress; a context manager. Ends (and is handed to the agent) on exit.
            The same calls as the pure-Python Span."""
            __slots__ = ()
            __module__ = "tailgate"  # where users meet it
            # SpanAPI's functions, not SpanAPI as a second base: a base class of Python's makes
            # the span's type slower to use (measured: ~30 ns per span).
            get_span_context = SpanAPI.get_span_context
            record_exception = SpanAPI.record_exception
            _escaped = SpanAPI._escaped
            add_link = SpanAPI.add_link
            _add_links = SpanAPI._add_links
            __call__ = SpanAPI.__call__

        module.setup(_context._current, _context.SpanContext, NativeSpan, _context._baggage)
        _NATIVE_MODULE = module
        return module
    return None
