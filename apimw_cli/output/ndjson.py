"""`listen --format ndjson`: one schema-versioned JSON record a line.

Two ways to the same line. The general one (`line`) encodes with Python's json through
`untrusted.json_text`: non-ASCII readable, but DEL, C1, U+2028/9, bidi controls and lone
surrogates as `\\u` escapes, strict JSON (a body holding NaN or nesting too deep is replaced by
`body_error`), every URL's password masked. The fast one (`_fast_bytes`, for the records that
come by the thousand: events and forward results) encodes with orjson, into the UTF-8 bytes the
view writes as they are, and embeds the body as it came (`body_fragment`), when that gives a
line with the same meaning (`json.loads` reads the same object) and the same guarantees;
otherwise it declines and the general one is used. An event line on the fast way is assembled
from pieces (`_EventLines`): the bytes orjson would write for its fields, at a quarter less cost.
"""

from __future__ import annotations

from typing import Any

import orjson

from apimw_cli.models import Forwarded, Received, VerdictMemo
from apimw_cli.output.masking import mask_url, redact
from apimw_cli.output.payload import parse_body, verdict_dict
from apimw_cli.output.printer import to_json
from apimw_cli.output.untrusted import JSON_UNSAFE

__all__ = [
    "SCHEMA",
    "body_fragment",
    "forwarded_bytes",
    "forwarded_line",
    "line",
    "received_bytes",
    "received_line",
]

SCHEMA = 1
# NDJSON fields that carry our own words (notes, errors): redacted like messages on stderr.
_MESSAGES = frozenset({"message", "error", "reason"})
# A body with more brackets than this may nest deeper than a reader's json.loads will go
# (Python's stops near 1,000): it takes the general way, which says so in `body_error`. (A
# body of twice as many bytes or fewer cannot: no need to count.)
MAX_BRACKETS = 512
# JSON's white space between tokens, made plain spaces: a body on one line means the same.
_ONE_LINE = bytes.maketrans(b"\t\n\r", b"   ")
# Lead bytes of the UTF-8 encodings of C1, U+061C, U+200E/F, U+2028-202E and U+2066-2069.
_UNSAFE_LEADS = (b"\xc2", b"\xd8\x9c", b"\xe2\x80", b"\xe2\x81")


def _redacted(fields: dict[str, Any]) -> None:
    # Our own words are redacted as on stderr (every URL loses its password later, whole).
    for key in _MESSAGES.intersection(fields):
        if isinstance(fields[key], str):
            fields[key] = redact(fields[key])


def line(record: str, now: float, **fields: Any) -> str:
    """The general way: any record, any data (ends in a line feed)."""
    _redacted(fields)
    data = {"schema": SCHEMA, "record": record, "time": now, **fields}
    try:
        text = to_json(data, indent=None, allow_nan=False)
    except RecursionError:  # a body that parsed but is too deep to write back out
        data["body"] = None
        data["body_error"] = "JSON nested too deep to embed"
        text = to_json(data, indent=None)
    except ValueError:  # Python reads NaN, Infinity and 1e999, but they are not JSON
        data["body"] = None
        data["body_error"] = "NaN or Infinity in the body, which JSON cannot carry"
        text = to_json(data, indent=None)
    return mask_url(text) + "\n"


# Single bytes looked for as ints: `127 in data` is a memchr, `b"\x7f" in data` a substring
# search five times slower (measured on 1 KB bodies, for every event).
_DEL, _BACKSLASH, _AT, _TAB, _LF, _CR = 0x7F, 0x5C, 0x40, 0x09, 0x0A, 0x0D


def _safe(encoded: bytes) -> bool:
    """Whether orjson's text holds nothing `json_text` would have escaped. orjson escapes C0
    in strings and the body's white space is spaces by now; it leaves DEL and the rest raw."""
    if _DEL in encoded:
        return False
    if encoded.isascii() or not any(lead in encoded for lead in _UNSAFE_LEADS):
        return True
    return JSON_UNSAFE.search(encoded.decode()) is None  # a lead byte: look closer


def body_fragment(body: bytes, strict: bool = False) -> orjson.Fragment | None:
    """`body` to embed in a line as it came, or None when the general way must decide.

    Only a body that is strict JSON (orjson reads it: no NaN, no lone surrogate, valid UTF-8;
    `strict`: the receiver's orjson read it already) and shallow enough for any reader; and,
    since the line's URL passwords are masked on its text, only when that text masks what the
    decoded body would: a body with a backslash (an escape) must not hold an `@` or a `\\u`
    escape (which may write one)."""
    embedded = _embeddable(body, strict)
    return None if embedded is None else orjson.Fragment(embedded)


def _embeddable(body: bytes, strict: bool) -> bytes | None:
    """`body_fragment`'s bytes: the body on one line, or None."""
    if len(body) > 2 * MAX_BRACKETS and body.count(0x5B) + body.count(0x7B) > MAX_BRACKETS:
        return None
    if _BACKSLASH in body and (_AT in body or b"\\u" in body):
        return None
    if not strict:
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    if _LF in body or _CR in body or _TAB in body:
        body = body.translate(_ONE_LINE)  # raw, they can only be white space between tokens
    return body


def _fast_bytes(record: str, now: float, fields: dict[str, Any]) -> bytes | None:
    """The fast way: the line `line` would write (as UTF-8), through orjson; None when it
    cannot vouch for it (a lone surrogate, an integer past 64 bits, a character to escape).
    `fields` is redacted in place."""
    _redacted(fields)
    return _encoded({"schema": SCHEMA, "record": record, "time": now, **fields})


def _encoded(data: dict[str, Any]) -> bytes | None:
    """The line as UTF-8, newline included (the view writes these bytes as they are)."""
    try:
        encoded = orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return None
    return _vouched(encoded)


def _vouched(encoded: bytes) -> bytes | None:
    """orjson's line as the view may write it (URL passwords masked), or None (see `_safe`)."""
    if not _safe(encoded):
        return None
    if _AT in encoded:  # a URL may hold a password: mask_url looks closer
        return mask_url(encoded.decode()).encode()
    return encoded


# A verdict's fields as JSON, made once for the verdict every valid event shares.
_verdict_json = VerdictMemo(lambda verdict: orjson.Fragment(orjson.dumps(verdict_dict(verdict))))


def _received_data(record: str, now: float, r: Received, body: Any, verdict: Any) -> dict[str, Any]:
    """An event or challenge record's fields, in the order the line shows them (`verdict`:
    `verdict_dict`'s, or its JSON as a fragment)."""
    return {
        "schema": SCHEMA,
        "record": record,
        "time": now,
        "id": r.record_id,
        "kind": r.kind,
        "type": r.event_type,
        "delivery_id": r.delivery_id,
        "status": r.status,
        "verdict": verdict,
        "duplicate": r.duplicate,
        "attempt": r.attempt,
        "size": len(r.body),
        "path": r.path,
        "note": r.note,
        "body": body,
    }


def received_line(r: Received, now: float) -> str:
    """An `event` (or `challenge`) record: the body embedded as JSON, or `body_error`."""
    return received_bytes(r, now).decode()


def received_bytes(r: Received, now: float) -> bytes:
    """`received_line` as UTF-8 (what the view writes: the fast way's bytes, not re-encoded)."""
    record = "event" if r.kind != "challenge" else "challenge"
    embed = r.kind != "rejected" and bool(r.body)
    embedded = _embeddable(r.body, r.strict_json) if embed else None
    if embedded is not None and r.record_error is None:
        fast = _EVENT_LINES.line(record, now, r, embedded)
        if fast is not None:
            return fast
    elif embedded is not None or not embed:
        # None of these fields is one of our messages (_MESSAGES): nothing to redact.
        fragment = None if embedded is None else orjson.Fragment(embedded)
        data = _received_data(record, now, r, fragment, _verdict_json(r.verdict))
        if r.record_error is not None:
            data["record_error"] = r.record_error
        fast = _encoded(data)
        if fast is not None:
            return fast
    body, problem = parse_body(r.body) if r.kind != "rejected" else (None, None)
    data = _received_data(record, now, r, body, verdict_dict(r.verdict))
    if problem is not None and r.body:
        data["body_error"] = problem
    if r.record_error is not None:
        data["record_error"] = r.record_error
    del data["schema"], data["record"], data["time"]
    return line(record, now, **data).encode()


# A run's shape (see `_EventLines.line`) and the four pieces of its lines that it decides.
_Shared = tuple[tuple[Any, ...], bytes, bytes, bytes, bytes]


class _EventLines:
    """The fast way's line for a record with its body embedded, assembled from pieces: the
    bytes `_encoded(_received_data(...))` would write, without building that 15-key dict and
    having orjson walk it (per event, the two cost twice the rest of the line, counted with
    callgrind). What most events share (kind, type, status, verdict, path, ...) is encoded
    once per run of alike events; the time once per batch; id, delivery id, size and body per
    event. One tuple per cache, swapped whole: safe to share between threads."""

    def __init__(self) -> None:
        self._shared: _Shared | None = None
        self._time: tuple[float, bytes] | None = None

    def line(self, record: str, now: float, r: Received, body: bytes) -> bytes | None:
        shape = (record, r.kind, r.event_type, r.status, r.verdict, r.duplicate, r.attempt,
                 r.path, r.note)  # fmt: skip
        shared, time = self._shared, self._time
        try:
            if shared is None or shared[0] != shape:
                shared = self._shared = (shape, *_shared_pieces(shape))
            if time is None or time[0] != now:
                self._time = time = (now, _dumps(now))
            data = b"".join((
                _HEAD, shared[1], time[1], b',"id":', _dumps(r.record_id),
                shared[2], _dumps(r.delivery_id), shared[3], b"%d" % len(r.body), shared[4],
                body, b"}\n",
            ))  # fmt: skip
        except orjson.JSONEncodeError:  # a lone surrogate (a type read by Python's json)
            return None
        return _vouched(data)


def _shared_pieces(shape: tuple[Any, ...]) -> tuple[bytes, bytes, bytes, bytes]:
    """The line's bytes between the per-event fields (see `_EventLines`), in their order."""
    record, kind, event_type, status, verdict, duplicate, attempt, path, note = shape
    return (
        _dumps(record) + b',"time":',
        b',"kind":' + _dumps(kind) + b',"type":' + _dumps(event_type) + b',"delivery_id":',
        b',"status":' + _dumps(status) + b',"verdict":' + _dumps(_verdict_json(verdict))
        + b',"duplicate":' + _dumps(duplicate) + b',"attempt":' + _dumps(attempt)
        + b',"size":',
        b',"path":' + _dumps(path) + b',"note":' + _dumps(note) + b',"body":',
    )  # fmt: skip


_dumps = orjson.dumps
_HEAD = b'{"schema":%d,"record":' % SCHEMA
_EVENT_LINES = _EventLines()


def forwarded_line(f: Forwarded, now: float) -> str:
    """A `forward` record: where, what it answered, how long it took."""
    return forwarded_bytes(f, now).decode()


def forwarded_bytes(f: Forwarded, now: float) -> bytes:
    """`forwarded_line` as UTF-8."""
    fields = {"id": f.record_id, "target": f.target, "status": f.status,
              "ms": round(f.ms, 1), "error": f.error}  # fmt: skip
    return _fast_bytes("forward", now, dict(fields)) or line("forward", now, **fields).encode()
