"""The parts of an event's detail (logindex.LogIndex.detail) built from a parsed log line: its
headers, a body in every form the page shows, the signature verdict, an app's answer.

Every input is a value from a log line (any JSON type); nothing here raises for one, nothing
recurses without bound (a body nested 3,000 deep gets `pretty: null` and says why), and every
text given back encodes as UTF-8.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson

from apimw_cli.inspector.logfacts import body_bytes, clean_text, text_or_none

__all__ = ["answer_view", "body_view", "header_pairs", "verdict_view"]

MAX_HEADERS = 500  # header pairs shown; a log line may hold any number
HEADER_LIMIT = 8192  # characters of one name or value shown
PRETTY_LIMIT = 1024 * 1024  # bodies past this are not pretty-printed (the raw view stays)


def header_pairs(headers: object) -> list[list[str]]:
    """`[[name, value], ...]` from a request's `headers` object or an answer's list of pairs;
    a value that is not text is shown as its JSON."""
    pairs: list[tuple[object, object]] = []
    if isinstance(headers, dict):
        pairs = list(headers.items())[:MAX_HEADERS]
    elif isinstance(headers, list):
        for item in headers[:MAX_HEADERS]:
            if isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((item[0], item[1]))
    return [[_shown(name), _shown(value)] for name, value in pairs]


def _shown(value: object) -> str:
    if isinstance(value, str):
        return clean_text(value, HEADER_LIMIT)
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = "?"
    return clean_text(text, HEADER_LIMIT)


def body_view(data: bytes, forms: bool = True) -> dict[str, Any]:
    """`{size, text, base64, pretty, pretty_error}`: `text` is None when the bytes are not
    UTF-8; `pretty` the JSON indented, or None with `pretty_error` saying why. Without `forms`
    only `{size, pretty_error}` (for a page that reads the bytes themselves elsewhere)."""
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    pretty, why = _pretty(data, text, forms)
    if not forms:
        return {"size": len(data), "pretty_error": why}
    return {
        "size": len(data),
        "text": text,
        "base64": base64.b64encode(data).decode("ascii"),
        "pretty": pretty,
        "pretty_error": why,
    }


def _pretty(data: bytes, text: str | None, write: bool = True) -> tuple[str | None, str | None]:
    """The body as indented JSON (when `write`; else only whether it is JSON), or why not."""
    if not data:
        return None, "the body is empty"
    if text is None:
        return None, "the body is not UTF-8 text"
    if len(data) > PRETTY_LIMIT:
        return None, f"the body is over {PRETTY_LIMIT // 1024} KB: not pretty-printed"
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses: nesting past 1024, integers past 64 bits, lone surrogates
            value = json.loads(text)
        except RecursionError:
            return None, "the JSON is nested too deeply to pretty-print"
        except ValueError as error:
            # json's messages may end in "at" ("Invalid control character at"): said once
            why = str(getattr(error, "msg", "invalid")).removesuffix(" at")
            return None, f"not JSON: {why} at character {_pos(error)}"
    if not write:
        return None, None
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8"), None
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:  # past orjson's depth (254), or an integer past 64 bits: the stdlib, bounded
        return json.dumps(value, indent=2, ensure_ascii=True, allow_nan=True), None
    except (RecursionError, ValueError):
        return None, "the JSON is nested too deeply to pretty-print"


def _pos(error: ValueError) -> int:
    pos = getattr(error, "pos", 0)
    return pos if isinstance(pos, int) else 0


def verdict_view(verdict: object) -> dict[str, Any] | None:
    """`{code, reason, diagnosis}` of a recorded verdict (text or None each), None for none."""
    if not isinstance(verdict, dict):
        return None
    return {
        "code": text_or_none(verdict.get("code"), 60),
        "reason": text_or_none(verdict.get("reason"), 2000),
        "diagnosis": text_or_none(verdict.get("diagnosis"), 2000),
    }


def answer_view(record: dict[str, Any] | None) -> dict[str, Any]:
    """The app's answer kept in a forward or replay line: `response_headers` (pairs) and
    `response_body` (`{size, text, base64, truncated}`, None when the line kept none)."""
    if record is None:
        return {"response_headers": [], "response_body": None}
    body = body_bytes(
        {"body": record.get("response_body"), "body_b64": record.get("response_body_b64")}
    )
    view = None
    if body is not None:
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        view = {
            "size": len(body),
            "text": text,
            "base64": base64.b64encode(body).decode("ascii"),
            "truncated": record.get("response_truncated") is True,
        }
    return {"response_headers": header_pairs(record.get("response_headers")), "response_body": view}
