"""Baggage, as opentelemetry.baggage: name/value pairs that travel with the context (inject()
writes them as W3C `baggage`; extract() reads them back)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from ._context import _BAGGAGE_KEY, Context, _baggage, get_current

__all__ = ["get_all", "get_baggage", "set_baggage", "remove_baggage", "clear"]


def get_all(context: Optional[Mapping[str, Any]] = None) -> Mapping[str, object]:
    values = _baggage.get() if context is None else context.get(_BAGGAGE_KEY)
    return dict(values or {})


def get_baggage(name: str, context: Optional[Mapping[str, Any]] = None) -> Optional[object]:
    return get_all(context).get(name)


def _with(entries: dict, context: Optional[Mapping[str, Any]]) -> Context:
    values = dict(context if context is not None else get_current())
    values[_BAGGAGE_KEY] = entries
    return Context(values)


def set_baggage(name: str, value: object,
                context: Optional[Mapping[str, Any]] = None) -> Context:
    """A new Context (attach it to make it current) with `name` set to `value`."""
    entries = get_all(context)
    entries[name] = value
    return _with(entries, context)


def remove_baggage(name: str, context: Optional[Mapping[str, Any]] = None) -> Context:
    entries = get_all(context)
    entries.pop(name, None)
    return _with(entries, context)


def clear(context: Optional[Mapping[str, Any]] = None) -> Context:
    return _with({}, context)
