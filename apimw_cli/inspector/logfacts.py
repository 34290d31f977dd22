"""What the inspector's index keeps of each line of a session log (recorder.py writes them),
and how it gets it cheaply.

A session log is input from outside: any field may hold any JSON value, or the line may not be
JSON at all. Everything here takes what it is given and never raises: a value of the wrong type
reads as none, text is cut to a bounded length, and numbers that are not finite are dropped.

Request lines written by the recorder put the small fields the list needs after the body:
`..., "event_type": ..., "delivery_id": ..., "kind": ..., "status": ..., "duplicate": ...,
"verdict": {...}}`. Inside a JSON string a quote is always escaped, so `,"event_type":` (a comma
right before an unescaped quote) only ever appears as a key: the last one on the line is the
top-level key (a header may be named `event_type`, but the headers come before the body). So
the line's tail from there parses alone, a few hundred bytes, whatever the body's size.
"""

from __future__ import annotations

import binascii
import math
import operator
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from apimw_cli.receiver.recorder import parse_line

__all__ = [
    "FORWARD_PREFIX",
    "REPLAY_PREFIX",
    "REQUEST_PREFIXES",
    "TEXT_LIMIT",
    "Facts",
    "Forward",
    "Summary",
    "body_bytes",
    "clean_text",
    "delivery_at",
    "facts_at",
    "facts_from_record",
    "facts_from_tail",
    "finite",
    "forward_from_record",
    "int_or_none",
    "parse_line",
    "summary_from_record",
    "text_or_none",
]

# How the recorder's lines begin (schema 1 request lines began the same way).
REQUEST_PREFIXES = (
    b'{"schema":2,"record":"request","id":"',
    b'{"schema":1,"record":"request","id":"',
)
FORWARD_PREFIX = b'{"schema":2,"record":"forward",'
REPLAY_PREFIX = b'{"schema":2,"record":"replay",'
TAIL_KEY = b',"event_type":'
_SURROGATE = re.compile("[\ud800-\udfff]")
TEXT_LIMIT = 200  # characters of a type, path, delivery id... an index keeps per row
ERROR_LIMIT = 500
KINDS = frozenset({"event", "challenge", "invalid", "rejected"})
_KINDS = {kind: kind for kind in KINDS}
_KINDS_B = {kind.encode("ascii"): kind for kind in KINDS}


def clean_text(value: str, limit: int | None = None) -> str:
    """`value` cut to `limit` characters (an ellipsis says so), with any lone surrogate (a log
    may hold one as a JSON escape) replaced, so the text always encodes as UTF-8."""
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "\u2026"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = _SURROGATE.sub("\ufffd", value)
    return value


def text_or_none(value: object, limit: int | None = TEXT_LIMIT) -> str | None:
    return clean_text(value, limit) if isinstance(value, str) else None


def int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def finite(value: object) -> float | None:
    """A JSON number as a float, None for anything else (NaN and infinities included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer past a float's range
        return None
    return number if math.isfinite(number) else None


class Facts(NamedTuple):
    """What filters and grouping need of a request line: kept for every row (small: text is
    cut at TEXT_LIMIT). A tuple: one is made per line as the log is read."""

    kind: str  # event, challenge, invalid, rejected; "other" for anything else
    event_type: str | None
    delivery_id: str | None
    status: int | None  # what APIMW got
    duplicate: bool
    verdict: str | None  # the verdict's code


UNREADABLE = Facts("other", None, None, None, False, None)


_SHARED: dict[str, str] = {}  # one copy of each event type and verdict code, for every row
_SHARED_LIMIT = 4096  # past that many distinct ones (made-up types), each row keeps its own


def _shared(value: str | None) -> str | None:
    if value is None:
        return None
    kept = _SHARED.get(value)
    if kept is None:
        if len(_SHARED) >= _SHARED_LIMIT:
            return value
        _SHARED[value] = kept = value
    return kept


def facts_from_record(record: dict[str, Any]) -> Facts:
    kind = record.get("kind")
    verdict = record.get("verdict")
    code = text_or_none(verdict.get("code"), 60) if isinstance(verdict, dict) else None
    return Facts(
        kind=_KINDS.get(kind, "other") if isinstance(kind, str) else "other",
        event_type=_shared(text_or_none(record.get("event_type"))),
        delivery_id=text_or_none(record.get("delivery_id")),
        status=int_or_none(record.get("status")),
        duplicate=record.get("duplicate") is True,
        verdict=_shared(code),
    )


# The tail as the recorder writes it for the usual request (text without escapes, a status,
# the verdict's code first): its fields without parsing JSON, cheaper still.
_USUAL_TAIL = re.compile(
    rb',"event_type":(?:null|"([^"\\\n]{0,200})"),"delivery_id":(?:null|"([^"\\\n]{0,200})"),'
    rb'"kind":"(event|challenge|invalid|rejected)","status":(\d{1,3}),"duplicate":(true|false),'
    rb'"verdict":(?:null\}|\{"code":"([a-z_]{1,60})")'
)
_new_facts = tuple.__new__  # Facts(...) runs a Python __new__: this is the C one


DELIVERY_KEY = b',"delivery_id":'


def delivery_at(buf: bytes, start: int, end: int) -> tuple[bool, str | None]:
    """The delivery id of the request line buf[..end] as the recorder writes it, read from
    its last `,"delivery_id":` key (after `start`) without parsing: (True, id or None), or
    (False, None) when it is not there as plain text (then the line is parsed)."""
    at = buf.rfind(DELIVERY_KEY, start, end)
    if at < 0:
        return False, None
    value = at + len(DELIVERY_KEY)
    if buf.startswith(b"null,", value):
        return True, None
    if buf.startswith(b'"', value):
        close = buf.find(b'"', value + 1, min(end, value + TEXT_LIMIT + 2))
        if close > 0:
            text = buf[value + 1 : close]
            if b"\\" not in text:
                try:
                    return True, text.decode("utf-8")
                except UnicodeDecodeError:
                    pass
    return False, None


def facts_at(buf: bytes, tail: int, end: int) -> Facts | None:
    """The facts of the request line whose tail (its last `,"event_type":`) starts at
    buf[tail], the line ending at `end`; None when it is not as the recorder writes it."""
    usual = _USUAL_TAIL.match(buf, tail, end)
    if usual is None:
        return facts_from_tail(buf[tail + 1 : end])
    event_type, delivery_id, kind, status, duplicate, code = usual.groups()
    try:
        return _new_facts(
            Facts,
            (
                _KINDS_B[kind],
                None if event_type is None else _shared(event_type.decode("utf-8")),
                None if delivery_id is None else delivery_id.decode("utf-8"),
                int(status),
                duplicate == b"true",
                None if code is None else _shared(code.decode("ascii")),
            ),
        )
    except UnicodeDecodeError:
        return facts_from_tail(buf[tail + 1 : end])


_TAIL_FIELDS = operator.itemgetter(
    "event_type", "delivery_id", "kind", "status", "duplicate", "verdict"
)


def facts_from_tail(tail: bytes) -> Facts | None:
    """The facts from a request line's tail (from its last `,"event_type":` on, the comma
    left out), or None when that does not parse as the recorder writes it.

    This runs for every request line read: the usual line (fields of the types the recorder
    writes, short text) takes the quick way; anything else the careful one."""
    try:
        record = orjson.loads(b"{" + tail)
        event_type, delivery_id, kind, status, duplicate, verdict = _TAIL_FIELDS(record)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    code = verdict.get("code") if type(verdict) is dict else verdict
    if (
        type(kind) is str
        and type(status) is int
        and type(duplicate) is bool
        and (event_type is None or (type(event_type) is str and len(event_type) <= TEXT_LIMIT))
        and (delivery_id is None or (type(delivery_id) is str and len(delivery_id) <= TEXT_LIMIT))
        and (code is None or (type(code) is str and len(code) <= 60))
    ):  # orjson never gives a lone surrogate: nothing to clean
        return Facts(
            _KINDS.get(kind, "other"),
            _shared(event_type),
            delivery_id,
            status,
            duplicate,
            _shared(code),
        )
    return facts_from_record(record) if isinstance(record, dict) else None


@dataclass(slots=True, frozen=True)
class Summary:
    """The rest of a row, read when the row is shown (a bounded cache keeps them)."""

    received_at: float | None
    method: str | None
    path: str | None
    size: int | None  # body bytes; None when the body cannot be read


NO_SUMMARY = Summary(None, None, None, None)


def body_bytes(record: dict[str, Any]) -> bytes | None:
    """The exact body bytes of a request record, or None when it has none that can be read."""
    text = record.get("body")
    if isinstance(text, str):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: not bytes anyone sent
            return None
    encoded = record.get("body_b64")
    if text is not None or not isinstance(encoded, str):
        return None
    try:
        return binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def summary_from_record(record: dict[str, Any]) -> Summary:
    body = body_bytes(record)
    return Summary(
        received_at=finite(record.get("received_at")),
        method=text_or_none(record.get("method"), 20),
        path=text_or_none(record.get("path")),
        size=None if body is None else len(body),
    )


class Forward(NamedTuple):
    """One forward (or replay) outcome, and where its line is, for the answer it holds."""

    target: str | None
    status: int | None
    ms: float | None
    error: str | None
    at: float | None
    offset: int  # -1: the line is not in the file (a replay kept in memory)
    length: int

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 100 <= self.status < 400

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "status": self.status, "ms": self.ms, "error": self.error}


def forward_from_record(record: dict[str, Any], offset: int, length: int) -> Forward:
    target, status, ms, error, at = (
        record.get("target"),
        record.get("status"),
        record.get("ms"),
        record.get("error"),
        record.get("at"),
    )
    if (  # the usual line, the quick way (this runs for every forward line read)
        type(target) is str
        and len(target) <= 500
        and type(status) is int
        and error is None
        and type(ms) is float
        and type(at) is float
        and math.isfinite(ms)
        and math.isfinite(at)
    ):
        return Forward(_shared(target), status, ms, None, at, offset, length)
    return Forward(
        target=text_or_none(record.get("target"), 500),
        status=int_or_none(record.get("status")),
        ms=finite(record.get("ms")),
        error=text_or_none(record.get("error"), ERROR_LIMIT),
        at=finite(record.get("at")),
        offset=offset,
        length=length,
    )
