"""One request's bytes in and its answer out, at the ASGI level: headers decoded, the body
parsed, a response sent. Nothing a sender puts in a request raises here."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.types import Message, Send

__all__ = [
    "ALLOW",
    "CLOSE",
    "TEXT",
    "Reply",
    "decode_headers",
    "parse_body",
    "send_reply",
    "text_reply",
]

ResponseHeaders = tuple[tuple[bytes, bytes], ...]
# An answer: status, body and headers besides Content-Length (which the sender adds).
Reply = tuple[int, bytes, ResponseHeaders]

TEXT = (b"content-type", b"text/plain; charset=utf-8")
CLOSE = (b"connection", b"close")
ALLOW = (b"allow", b"POST")


def decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names and values read as latin-1 (any bytes decode); a repeated header's values
    joined with ", " as HTTP does."""
    # Every header, as the session log keeps them all; a comprehension of decodes is faster
    # than one decode of them joined and split again (measured).
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
    if len(headers) == len(raw):
        return headers
    headers = {}  # a repeated header: join its values
    for name, value in raw:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def parse_body(body: bytes) -> tuple[dict[str, Any] | None, bool]:
    """The body as a JSON object (or None), and whether it is strict JSON.

    orjson first (a third of the stdlib's cost, and this runs for every event); what it refuses
    but Python's json accepts (UTF-16/32, NaN, integers past 64 bits, lone surrogates) goes to
    the stdlib, so both read the same bodies the same way. Strict: orjson read it (valid UTF-8,
    no NaN, no lone surrogate), so a JSON line may embed it as it is (`Received.strict_json`).
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep
            return None, False
        return (parsed if isinstance(parsed, dict) else None), False
    return (parsed if isinstance(parsed, dict) else None), True


def text_reply(status: int, text: str, *extra: tuple[bytes, bytes]) -> Reply:
    """A text/plain answer."""
    # surrogatepass: a challenge is echoed as sent, even one with a lone surrogate in it.
    return status, text.encode("utf-8", "surrogatepass"), (TEXT, *extra)


# The usual answer, an empty 200 (or --respond's status), as ready-made messages: uvicorn only
# reads them (it copies the header list), so one of each serves every request.
_EMPTY_BODY: Message = {"type": "http.response.body", "body": b""}
_EMPTY_STARTS: dict[int, Message] = {}


async def send_reply(send: Send, reply: Reply) -> None:
    """`reply` as ASGI messages (the fast stack's protocol takes a Reply as it is)."""
    status, body, headers = reply
    if not body and not headers:
        start = _EMPTY_STARTS.get(status)
        if start is None:
            start = _EMPTY_STARTS[status] = _start(status, [(b"content-length", b"0")])
        await send(start)
        await send(_EMPTY_BODY)
        return
    # Few headers: h11 validates each one, and this runs for every delivery.
    await send(_start(status, [*headers, (b"content-length", str(len(body)).encode("ascii"))]))
    await send({"type": "http.response.body", "body": body})


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers}
