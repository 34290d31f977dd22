"""Reading one request's body within the receiver's limits (size and time).

The body is read as a stream and never buffered past `limit`; past it, up to DISCARD_LIMIT more
is read and dropped so the client sees the 413 instead of a reset connection. A body still
arriving must arrive whole within `read_timeout`: a trickle must not hold a connection.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive

from apimw_cli.receiver.guard import Pending, result_or_pending

__all__ = ["DISCARD_LIMIT", "Disconnected", "TooLarge", "TooSlow", "read_body"]

# Past the limit we read and drop up to this much more, so the client sees the 413 instead of a
# reset connection; beyond it we answer at once and close.
DISCARD_LIMIT = 8 * 1024 * 1024
# A message's count of body bytes the server read and dropped before the app asked for them
# (fast_protocol.py keeps no body past the limit while the app has not started).
SKIPPED = "apimw.skipped"


class TooLarge(Exception):
    def __init__(self, drained: bool) -> None:
        self.drained = drained  # whether the whole body was read (the connection can stay open)


class Disconnected(Exception):
    """The client left before its body was in: there is nobody to answer."""


class TooSlow(Exception):
    """The body did not arrive whole within the read timeout."""


async def read_body(
    receive: Receive, headers: dict[str, str], limit: int, read_timeout: float
) -> bytes:
    """The whole body, at most `limit` bytes; raises TooLarge, TooSlow or Disconnected."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + DISCARD_LIMIT:
        raise TooLarge(drained=False)
    message = result_or_pending(receive())  # no waiting when the body is all in
    if not isinstance(message, Pending):
        if message["type"] == "http.disconnect":
            raise Disconnected
        if not message.get("more_body", False):
            body: bytes = message.get("body", b"")
            if len(body) > limit or SKIPPED in message:
                raise TooLarge(drained=True)
            return body  # the usual case: the whole body in one message, and no timer
    # Still arriving: only here is there a timer, as asyncio.timeout costs microseconds a request.
    try:
        async with asyncio.timeout(read_timeout):
            return await _read_rest(message, receive, limit)
    except TimeoutError:
        raise TooSlow from None


async def _read_rest(message: Message | Pending[Message], receive: Receive, limit: int) -> bytes:
    if isinstance(message, Pending):
        message = await message
        if message["type"] == "http.disconnect":
            raise Disconnected
    body: bytes = message.get("body", b"")
    chunks = [body]
    size = len(body) + message.get(SKIPPED, 0)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk) + message.get(SKIPPED, 0)
        if size <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks = []  # over the limit: keep reading to answer cleanly, keep nothing
        if size > limit + DISCARD_LIMIT:
            raise TooLarge(drained=False)
    if size > limit:
        raise TooLarge(drained=True)
    return b"".join(chunks)
