"""Recorded values as `apimw events` shows them: any JSON value a session file may hold, made
into a table cell or a clock time, never an exception; what cannot be shown is left blank."""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 32  # JSON nested deeper than this is shown as a placeholder
_DEEP = "…(nested too deep)"


def bounded(value: Any, depth: int = 0) -> Any:
    """`value` with what is nested deeper than _MAX_DEPTH replaced by a placeholder (such JSON
    cannot be encoded again)."""
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return _DEEP
        return {k: bounded(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth >= _MAX_DEPTH:
            return _DEEP
        return [bounded(v, depth + 1) for v in value]
    return value


def shown(value: Any, limit: int = 80) -> str:
    """A record's value as a table cell: text as is, other JSON compact and clipped."""
    import json

    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    text = json.dumps(bounded(value), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clock(value: Any, layout: str = "%H:%M:%S") -> str:
    """HH:MM:SS (or `layout`) of a unix time, local; "" when there is none, "?" when it is not
    a usable number."""
    import math
    import time

    if value is None:
        return ""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "?"
    try:
        return time.strftime(layout, time.localtime(value))
    except (OverflowError, OSError, ValueError):
        return "?"


class _NotShownIndented(ValueError):
    """JSON that indenting would change (a duplicate key would be lost)."""


def json_body(text: str) -> tuple[Any, str | None]:
    """(the parsed JSON, None), or (None, why it is not shown indented)."""
    import json

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise _NotShownIndented("it has a duplicate key")
        return dict(pairs)

    def no_constant(name: str) -> Any:
        raise ValueError(name)  # NaN, Infinity: not JSON

    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant), None
    except _NotShownIndented as why:
        return None, str(why)
    except RecursionError:
        return None, "it is nested too deep"
    except ValueError:
        return None, ""
