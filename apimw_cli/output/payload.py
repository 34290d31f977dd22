"""What the live view reads from a record: the body as JSON, a few words from it, short ids.

Every body came from outside: each parse here may fail (it is then reported as unparseable,
never raised), and every value taken from it is clipped before it is shown.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from apimw_cli.models import Verdict
from apimw_cli.output.untrusted import clip

__all__ = [
    "InexactNumber",
    "count",
    "fast_parse",
    "indented",
    "parse_body",
    "short_id",
    "summarize_payload",
    "verdict_dict",
]

FIELD_WIDTH = 40
# orjson reads an integer past 64 bits as a float: a float this large may have been one.
_INEXACT = 2.0**63


class InexactNumber(Exception):
    """A number orjson may have read inexactly (see `fast_parse`): read the body again."""


def parse_body(body: bytes) -> tuple[Any, str | None]:
    """The body as JSON (Python's reading of it), or (None, why not) when it cannot be read."""
    if not body:
        return None, "empty body"
    try:
        return json.loads(body), None
    except RecursionError:
        return None, "JSON nested too deep to read"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except ValueError:
        return None, "not JSON"


def fast_parse(body: bytes) -> tuple[Any, str | None, bool]:
    """`parse_body` at a quarter of the cost: orjson first, Python's json for what orjson
    refuses (NaN, lone surrogates, a byte-order mark, UTF-16, nesting past 1,024), so both
    read the same bodies. The third value says whether orjson read it: then an integer past
    64 bits came back as a float (`summarize_payload(..., exact=False)` notices)."""
    if not body:
        return None, "empty body", False
    try:
        return orjson.loads(body), None, True
    except orjson.JSONDecodeError:
        parsed, problem = parse_body(body)
        return parsed, problem, False


def indented(data: Any, limit: int) -> tuple[str, bool]:
    """`data` as JSON indented by 2, and whether that is all of it: encoding stops once past
    `limit` characters, as indenting can make a body's text far longer than the body (1 MB of
    numbers nested 300 deep is 300 MB indented)."""
    chunks: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(data):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            return "".join(chunks), False
    return "".join(chunks), True


def _word(value: object, exact: bool, width: int = FIELD_WIDTH) -> str:
    """One payload field for a summary: text or a number, else a placeholder."""
    if isinstance(value, str):
        return clip(value, width)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not exact and isinstance(value, float) and abs(value) >= _INEXACT:
            raise InexactNumber
        return clip(str(value), width)
    return "?"


def summarize_payload(event_type: str | None, event: Any, *, exact: bool = True) -> str:
    """A few words from a parsed payload: who, what, which error. With `exact=False` (the
    payload came from `fast_parse` through orjson), raises InexactNumber rather than show a
    number that may have lost digits."""

    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(data, dict):
        return ""
    if event_type == "message.received":
        # _word called directly: the live view makes a summary per event, thousands a second.
        return f'from {_word(data.get("from"), exact)} "{_word(data.get("text", ""), exact)}"'
    if event_type == "message.failed":
        error = data.get("error")
        error = error if isinstance(error, dict) else {}
        code, message = (
            _word(error.get("code", ""), exact),
            _word(error.get("message", ""), exact, 60),
        )
        return f"to {_word(data.get('to'), exact)} {code} {message}".strip()
    if event_type and event_type.startswith("message."):
        return f"to {_word(data.get('to'), exact)}"
    if event_type and event_type.startswith("quota."):
        used, limit = _word(data.get("used"), exact), _word(data.get("limit"), exact)
        return f"{used}/{limit} {_word(data.get('quota', ''), exact)}".strip()
    if event_type and event_type.startswith("account."):
        return _word(data.get("phone_number", ""), exact)
    return ""


def verdict_dict(verdict: Verdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {
        "code": str(verdict.code),
        "valid": verdict.valid,
        "reason": verdict.reason,
        "diagnosis": verdict.diagnosis,
        "matched_secret": verdict.matched_secret,
    }


def short_id(identifier: str) -> str:
    """`dlv_3f2a9c1b`: an id's prefix and 8 characters, enough to match lines by eye. Record
    ids count up (receiver/app.py), so theirs are the last 8: the first are the same."""
    prefix, sep, rest = identifier.partition("_")
    if sep and prefix.isalnum() and len(prefix) <= 8 and rest:
        return f"{prefix}_{rest[-8:] if prefix == 'rec' else rest[:8]}"
    return clip(identifier, 16)


def count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"
