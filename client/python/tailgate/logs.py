"""Trace ids in logs: every log line written inside a span can name its trace and span.

    logging.basicConfig(format="%(asctime)s %(levelname)s [%(trace_id)s %(span_id)s] %(message)s")
    tailgate.instrument_logging()            # init_tracing() does this for you

or, handler by handler, `handler.addFilter(tailgate.TraceContextFilter())`; for structlog, put
`tailgate.structlog_processor` in its processors. Ids are lowercase hex (32 and 16 digits, as
Jaeger shows them); outside a span both are "".
"""

from __future__ import annotations

import logging
from typing import Any, MutableMapping

from ._context import current_span


def _ids() -> tuple[str, str]:
    context = current_span().context
    if not context.is_valid:
        return "", ""
    return context.trace_id.hex(), context.span_id.hex()


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` and `span_id` to each record it sees. On a handler it sees every record the
    handler writes; on a logger, only those logged through that very logger (Python's rule)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id, record.span_id = _ids()
        return True


def instrument_logging() -> None:
    """Every LogRecord made from now on carries `trace_id` and `span_id`, whatever logger or
    handler it goes through (the log record factory is wrapped; calling this again does nothing)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_tailgate", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.trace_id, record.span_id = _ids()
        return record

    factory._tailgate = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def structlog_processor(logger: Any, method_name: str,
                        event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: adds `trace_id` and `span_id` to the event when a span is current
    (keys the caller set stay as they are)."""
    trace_id, span_id = _ids()
    if trace_id:
        event_dict.setdefault("trace_id", trace_id)
        event_dict.setdefault("span_id", span_id)
    return event_dict
