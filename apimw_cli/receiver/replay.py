"""Re-send recorded events to a local app (`apimw events replay`), byte for byte.

A session file is input from outside: it may have been edited, truncated or written by
anything. So a record is checked before it is sent: `body_of` and `replay_headers` raise
`Unsendable`, saying why, for one that cannot be sent as it was recorded, and `replay` turns
that into an `unsendable` result. Nothing half-valid reaches httpx.

Headers go out as the bytes that came in: the receiver decoded them as latin-1, so they are
encoded back as latin-1 and handed to httpx as bytes (which it would otherwise encode as ASCII).
"""

from __future__ import annotations

import binascii
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from apimw_cli.protocol import REPLAYED_BY_HEADER, SIGNATURE_HEADER
from apimw_cli.receiver.relay import ANSWER_LIMIT, RELAYED_BY, answer_headers, not_relayed
from apimw_cli.signing import sign

_REPLAYED_BY = (REPLAYED_BY_HEADER.encode("ascii"), RELAYED_BY.encode("ascii"))
_REPLAYED = REPLAYED_BY_HEADER.lower()
_SIGNATURE = SIGNATURE_HEADER.lower()

# RFC 9110 token: what a header name may be.
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
# What h11 refuses inside a value besides CR, LF and NUL: the other ASCII whitespace
# (a value is words separated by spaces and tabs; obs-text, 0x80-0xFF, is allowed).
_OTHER_SPACE = re.compile(r"[\x0b\x0c]")

Failure = Literal["unsendable", "connect", "timeout", "transport"]


class Unsendable(ValueError):
    """A recorded request that cannot be sent as it was recorded; the message says why."""


# The most of the app's answer body a replay keeps (for the inspector to show); the rest is
# not read. The same cap as a forward's, which the session log's lines keep whole.
RESPONSE_LIMIT = ANSWER_LIMIT


@dataclass(frozen=True)
class ReplayResult:
    """One replay. `failure` says why there is no status: `unsendable` (nothing was sent),
    `connect`, `timeout` or `transport`. With a status, the app's answer: its headers (names
    as sent, values decoded as latin-1) and up to RESPONSE_LIMIT bytes of its body
    (`response_truncated` when there was more)."""

    record_id: str
    status: int | None
    ms: float
    error: str | None = None
    failure: Failure | None = None
    response_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    response_body: bytes = field(default=b"", repr=False)
    response_truncated: bool = False


def json_type(value: object) -> str:
    """The JSON name of `value`'s type, with its article, for messages: `a number`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _quoted(name: str, limit: int = 60) -> str:
    return repr(name if len(name) <= limit else name[: limit - 1] + "…")


def body_of(record: Mapping[str, Any]) -> bytes:
    """The exact body bytes of a `request` record: `body` (text, sent as UTF-8) or else
    `body_b64` (strict base64, as the recorder writes it). Raises Unsendable for neither."""
    text = record.get("body")
    if isinstance(text, str):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            raise Unsendable("its body has a lone surrogate: it is not UTF-8 text") from None
    if "body" in record and text is not None:
        raise Unsendable(f"its body is {json_type(text)}, not text")
    encoded = record.get("body_b64")
    if encoded is None:
        raise Unsendable("it has no body (neither `body` nor `body_b64`)")
    if not isinstance(encoded, str):
        raise Unsendable(f"its body_b64 is {json_type(encoded)}, not text")
    try:
        return binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):  # ValueError: a non-ASCII character
        raise Unsendable("its body_b64 is not valid base64") from None


def _header(name: str, value: object) -> tuple[bytes, bytes]:
    """One header as the bytes it was received as (the receiver decoded them as latin-1)."""
    if not _TOKEN.fullmatch(name):
        raise Unsendable(f"header name {_quoted(name)} is not a valid HTTP header name")
    if not isinstance(value, str):
        raise Unsendable(f"header {_quoted(name)} has a non-text value ({json_type(value)})")
    for char, what in (("\r", "a CR"), ("\n", "an LF"), ("\0", "a NUL")):
        if char in value:
            raise Unsendable(f"header {_quoted(name)} has {what} in its value")
    if _OTHER_SPACE.search(value):
        raise Unsendable(f"header {_quoted(name)} has a vertical tab or form feed in its value")
    try:
        raw = value.strip(" \t").encode("latin-1")  # HTTP trims the spaces around a value
    except UnicodeEncodeError as error:
        char = value[error.start]
        raise Unsendable(
            f"header {_quoted(name)} has a character that is not latin-1 ({char!r})"
        ) from None
    return name.encode("ascii"), raw


def replay_headers(
    headers: object, body: bytes, resign: str | None, *, marked: bool = True
) -> list[tuple[bytes, bytes]]:
    """The recorded headers as wire bytes, marked as a replay (unless not `marked`: `trigger`
    sends a new event, not a replay); with `resign`, a fresh signature.

    Left out as when forwarding (relay.py): hop-by-hop and framing headers (httpx writes its
    own), the names a `Connection` header lists, and Accept-Encoding. Raises Unsendable for
    headers that are not an object, or a header that cannot be sent as it was received.
    """
    if not isinstance(headers, dict):
        raise Unsendable(f"its headers are {json_type(headers)}, not an object")
    # A value that is not text cannot list names; such a Connection header is left out anyway.
    dropped = not_relayed([(str(n), v) for n, v in headers.items() if isinstance(v, str)])
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers.items():
        lower = str(name).lower()
        if lower in dropped or lower == _REPLAYED or (resign is not None and lower == _SIGNATURE):
            continue  # a replayed request replayed again carries one marker, ours
        out.append(_header(str(name), value))
    if marked:
        out.append(_REPLAYED_BY)
    if resign is not None:
        out.append((SIGNATURE_HEADER.encode("ascii"), sign(body, resign).encode("ascii")))
    return out


def replay(
    client: httpx.Client,
    url: str,
    record_id: str,
    body: bytes,
    headers: object,
    resign: str | None = None,
    *,
    marked: bool = True,
) -> ReplayResult:
    """POST `body` with the recorded `headers` (see `replay_headers`) to `url`.

    Never raises for the headers, the connection or the answer: headers that cannot be sent
    give an `unsendable` result, with nothing sent.
    """
    started = time.perf_counter()
    try:
        wire = replay_headers(headers, body, resign, marked=marked)
    except Unsendable as why:
        return ReplayResult(record_id, None, 0.0, f"not sent: {why}", "unsendable")
    try:
        request = client.build_request("POST", url, content=body, headers=wire)
        response = client.send(request, stream=True)
        try:
            kept, truncated = _read_capped(response)
        finally:
            response.close()
    except httpx.ConnectTimeout:
        return ReplayResult(record_id, None, _ms(started), "connection timed out", "connect")
    except httpx.TimeoutException:
        return ReplayResult(record_id, None, _ms(started), "timed out", "timeout")
    except httpx.ConnectError:
        return ReplayResult(record_id, None, _ms(started), "connection refused", "connect")
    except httpx.LocalProtocolError as exc:  # what h11 refuses and the checks above let by
        return ReplayResult(record_id, None, 0.0, f"not sent: {exc}", "unsendable")
    except httpx.HTTPError as exc:
        return ReplayResult(
            record_id, None, _ms(started), f"{exc.__class__.__name__}: {exc}", "transport"
        )
    return ReplayResult(
        record_id,
        response.status_code,
        _ms(started),
        response_headers=answer_headers(response.headers.raw),
        response_body=kept,
        response_truncated=truncated,
    )


def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    """Up to RESPONSE_LIMIT bytes of the (decoded) answer body, and whether there was more;
    the rest is not read (closing the response drops the connection)."""
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if size + len(chunk) > RESPONSE_LIMIT:
            parts.append(chunk[: RESPONSE_LIMIT - size])
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), False


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
