"""Decorators: Tracer.trace and tailgate.trace(), and start_as_current_span(...) used as one."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping, Optional

_ARG_TEXT_LIMIT = 256  # a captured argument that is not a number or short text: its repr, cut
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def wrap(func: Callable, make: Callable[[tuple, Mapping[str, Any]], Any]) -> Callable:
    """`func` (a function or `async def` coroutine function), each call inside the span
    `make(args, kwargs)` returns (a context manager; None: the call is not traced)."""
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(f"tailgate: trace() takes functions and coroutine functions; "
                        f"{func.__qualname__} is a generator (open a span inside it instead)")
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def traced_coroutine(*args: Any, **kwargs: Any) -> Any:
            span = make(args, kwargs)
            if span is None:
                return await func(*args, **kwargs)
            with span:
                return await func(*args, **kwargs)
        return traced_coroutine

    @functools.wraps(func)
    def traced(*args: Any, **kwargs: Any) -> Any:
        span = make(args, kwargs)
        if span is None:
            return func(*args, **kwargs)
        with span:
            return func(*args, **kwargs)
    return traced


def _argument_spec(func: Callable, count: int) -> list:
    """(attribute key, positional index or None, name) of the first `count` parameters."""
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


def traced(resolve: Callable[[], Any], name: Optional[str],
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

        def make(args: tuple, kwargs: Mapping[str, Any]) -> Any:
            tracer = resolve()
            if tracer is None:
                return None
            attrs = _captured(spec, args, kwargs, dict(static)) if spec else static
            return tracer._start(span_name, None, kind, attrs)
        return wrap(func, make)

    return decorate
