"""One keep-alive HTTP/1.1 connection as an asyncio Protocol: a request goes out in one write,
the answer is parsed as it arrives, and the awaiting caller is woken straight from
`data_received` (no stream reader, no extra task), which keeps a forward to a few loop steps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from apimw_cli.http1.errors import ClosedBeforeAnswer, Http1Error, ProtocolFailed, TimedOut
from apimw_cli.http1.parsing import ResponseParser

__all__ = ["Connection", "Http1Response"]


@dataclass(frozen=True, slots=True)
class Http1Response:
    status: int
    headers: list[tuple[bytes, bytes]]  # as received: names in their own case
    body: bytes  # at most the client's max_response_body bytes
    truncated: bool  # the body was longer than that (and the connection was closed)


class Connection(asyncio.Protocol):
    """A connection to one origin that carries one request at a time."""

    def __init__(self, new_parser: Callable[[int], ResponseParser], cap: int) -> None:
        self._new_parser = new_parser
        self._cap = cap
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Http1Response] | None = None
        self._parser: ResponseParser | None = None
        self._got_bytes = False  # any byte of the current answer arrived
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False  # closed, closing, or not fit to carry another request
        self.requests = 0  # requests written on it so far

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports do not subclass asyncio.Transport, but have its methods)
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter, parser = self._waiter, self._parser
        if waiter is None or parser is None or waiter.done():
            self.close()  # bytes nobody asked for: the stream is out of step
            return
        self._got_bytes = True
        try:
            parser.feed(data)
        except ProtocolFailed as exc:
            self._fail(exc)
            return
        if parser.complete or parser.truncated:
            self._answered(parser)

    def eof_received(self) -> bool:
        self._ended(None)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    # --- requests ---

    async def exchange(self, request: bytes, deadline: float, timeout: float) -> Http1Response:
        """Write `request` and wait for the answer until `deadline` (time.monotonic());
        Http1Error."""
        transport = self._transport
        if transport is None or self.closed:
            raise ClosedBeforeAnswer("the connection was closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Http1Response] = loop.create_future()
        self._waiter, self._parser = waiter, self._new_parser(self._cap)
        self._got_bytes = False
        self.requests += 1
        transport.write(request)
        self._timer = loop.call_later(
            deadline - time.monotonic(), self._time_out, deadline, timeout
        )
        try:
            return await waiter
        finally:
            self._timer.cancel()
            self._waiter = self._parser = None

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once (a cancelled or failed request left it out of step)."""
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    # --- internals ---

    def _answered(self, parser: ResponseParser) -> None:
        waiter = self._waiter
        assert waiter is not None
        response = Http1Response(parser.status, parser.headers, parser.body, parser.truncated)
        if not parser.complete or not parser.keep_alive:
            self.close()  # Connection: close, HTTP/1.0, a body past the cap, or trailing bytes
        waiter.set_result(response)

    def _ended(self, exc: Exception | None) -> None:
        """The peer closed (EOF) or the connection was lost."""
        self.closed = True
        waiter, parser = self._waiter, self._parser
        if waiter is None or parser is None or waiter.done():
            return
        if not self._got_bytes:
            reason = f": {exc}" if exc is not None and str(exc) else ""
            self._fail(
                ClosedBeforeAnswer(f"the app closed the connection without answering{reason}")
            )
            return
        try:
            parser.feed_eof()  # a body that runs until close ends here
        except ProtocolFailed as error:
            self._fail(error)
            return
        self._answered(parser)

    def _fail(self, error: Http1Error) -> None:
        waiter = self._waiter
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _time_out(self, deadline: float, timeout: float) -> None:
        left = deadline - time.monotonic()
        if left > 0:  # loop timers may fire a little early (uvloop's by up to a millisecond)
            self._timer = asyncio.get_running_loop().call_later(
                left, self._time_out, deadline, timeout
            )
            return
        self._fail(TimedOut(f"timed out after {timeout:g}s"))
