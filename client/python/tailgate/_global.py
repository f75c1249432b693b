"""init_tracing(): the process's tracer, from arguments and the usual environment variables."""

from __future__ import annotations

import logging
import os
import sys
import urllib.parse
from typing import Any, Mapping, Optional, Union

from ._tracer import DisabledTracer, Tracer
from .logs import instrument_logging

_tracer: Optional[Union[Tracer, DisabledTracer]] = None
_log = logging.getLogger("tailgate")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(variable: str, text: str) -> Optional[bool]:
    value = text.strip().lower()
    if value == "":
        return None  # set but empty: as if unset
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"tailgate: {variable}={text!r} is not a boolean "
                     "(true/false, 1/0, yes/no, on/off)")


def _resource_attributes(text: str) -> dict:
    """OTEL_RESOURCE_ATTRIBUTES: key=value pairs separated by commas, values percent-encoded."""
    attrs = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"tailgate: OTEL_RESOURCE_ATTRIBUTES: {item.strip()!r} is not "
                             "key=value")
        attrs[key.strip()] = urllib.parse.unquote(value.strip())
    return attrs


def init_tracing(service_name: Optional[str] = None, service_version: Optional[str] = None, *,
                 enabled: Optional[bool] = None, resource: Optional[Mapping[str, str]] = None,
                 directory: Optional[str] = None, log_correlation: bool = True,
                 environ: Optional[Mapping[str, str]] = None,
                 **options: Any) -> Union[Tracer, DisabledTracer]:
    """The process's tracer, made on the first call (later calls return it).

    An argument wins over its variable:
      service name     OTEL_SERVICE_NAME, else SERVICE_NAME, else service.name in
                       OTEL_RESOURCE_ATTRIBUTES, else "unknown_service:<program>"
      service version  SERVICE_VERSION, else service.version in OTEL_RESOURCE_ATTRIBUTES
      enabled          TRACING_ENABLED, else OTEL_TRACING_ENABLED (true/false, 1/0, yes/no,
                       on/off); OTEL_SDK_DISABLED=true switches tracing off too
      resource         OTEL_RESOURCE_ATTRIBUTES (key=value,key=value), then `resource`
      directory        TAILGATE_RING_DIRECTORY (the agent's receivers.ring.directory)
    A malformed variable raises ValueError naming it. With tracing off, or when libtailgate.so
    cannot be loaded (a warning is logged), it returns a DisabledTracer: the same calls, recording
    nothing (spans are NonRecordingSpans, never None), so the trading code runs unchanged. `log_correlation` adds trace_id and span_id to
    every log record (instrument_logging()). `options` go to Tracer (lanes, lane_bytes, library).
    """
    global _tracer
    if _tracer is not None:
        return _tracer
    env = os.environ if environ is None else environ
    attrs = _resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    attrs.update(resource or {})
    from_resource_name = attrs.pop("service.name", None)
    from_resource_version = attrs.pop("service.version", None)
    name = (service_name or env.get("OTEL_SERVICE_NAME") or env.get("SERVICE_NAME")
            or from_resource_name
            or f"unknown_service:{os.path.basename(sys.argv[0] if sys.argv else '') or 'python'}")
    version = service_version or env.get("SERVICE_VERSION") or from_resource_version or ""
    if enabled is None:
        switch = _flag("TRACING_ENABLED", env.get("TRACING_ENABLED", ""))
        if switch is None:  # the tradingbot guide's name
            switch = _flag("OTEL_TRACING_ENABLED", env.get("OTEL_TRACING_ENABLED", ""))
        enabled = switch is not False
        if _flag("OTEL_SDK_DISABLED", env.get("OTEL_SDK_DISABLED", "")):
            enabled = False
    directory = directory or env.get("TAILGATE_RING_DIRECTORY") or None
    if log_correlation:
        instrument_logging()
    if not enabled:
        _tracer = DisabledTracer("tracing is disabled")
        return _tracer
    try:
        _tracer = Tracer(name, version, resource=attrs, directory=directory, **options)
    except OSError as e:
        _log.warning("tailgate: tracing is off: %s", e)
        _tracer = DisabledTracer(str(e))
        return _tracer
    if _tracer.error:
        _log.warning("tailgate: no shared-memory segment (%s): spans are dropped and counted",
                     _tracer.error)
    return _tracer


def get_tracer() -> Optional[Union[Tracer, DisabledTracer]]:
    """The tracer init_tracing() made, or None before it is called."""
    return _tracer
