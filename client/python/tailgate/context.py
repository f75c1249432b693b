"""OpenTelemetry's context calls (opentelemetry.context): the current span and baggage as one
immutable Context, made current with attach() and undone with detach()."""

from ._context import (Context, attach, create_key, detach, get_current, get_value,  # noqa: F401
                       set_value)

__all__ = ["Context", "attach", "create_key", "detach", "get_current", "get_value", "set_value"]
