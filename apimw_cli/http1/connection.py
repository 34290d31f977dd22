"""One keep-alive HTTP/1.1 connection as an asyncio Protocol: a request goes out in one write,
the answer is parsed as it arrives, and whoever waits is called straight from `data_received`
(no stream reader, no extra task). `start` takes a callback, so a caller can write its next
request in the same pass of the loop as the answer; `exchange` is the awaitable form."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from apimw_cli.http1.errors import ClosedBeforeAnswer, Http1Error, ProtocolFailed, TimedOut
from apimw_cli.http1.parsing import ResponseParser

__all__ = ["Connection", "Done", "Http1Response"]


@dataclass(frozen=True, slots=True)
class Http1Response:
    status: int
    headers: list[tuple[bytes, bytes]]  # as received: names in their own case
    body: bytes  # at most the client's max_response_body bytes
    truncated: bool  # the body was longer than that (and the connection was closed)


Done = Callable[["Http1Response | Http1Error"], None]


class _Wire(Protocol):
    """What a Connection needs of its transport (asyncio's, uvloop's or polled.PolledTransport)."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class Connection(asyncio.Protocol):
    """A connection to one origin that carries one request at a time."""

    def __init__(
        self,
        new_parser: Callable[[int], ResponseParser],
        cap: int,
        outstanding: dict[Connection, None] | None = None,
    ) -> None:
        self._new_parser = new_parser
        self._cap = cap
        self._transport: _Wire | None = None
        # Where a polled connection (polled.py) is listed while a request on it awaits its
        # answer, for Http1Client.poll; None on asyncio's transports, which cannot be polled.
        self._outstanding = outstanding
        self.poll: Callable[[], None] | None = None  # the transport's, when it has one
        self._done: Done | None = None  # who gets the current request's outcome
        self._parser: ResponseParser | None = None
        self._spare: ResponseParser | None = None  # the last complete one, for the next answer
        self._got_bytes = False  # any byte of the current answer arrived
        # One timer per connection, re-armed only when it fires early or a request's deadline
        # comes before it: a timer per request costs more than the rest of a request's work.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._deadline = 0.0
        self._timeout = 0.0
        self.lost: asyncio.Future[None]  # done once the connection is closed (connection_made)
        self.closed = False  # closed, closing, or not fit to carry another request
        self._closed_here = False  # ... by this side
        self.requests = 0  # requests written on it so far

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports do not subclass asyncio.Transport, but have its methods)
        self._transport = cast(_Wire, transport)
        self.poll = getattr(transport, "poll", None)
        self.lost = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
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
        if not self.lost.done():
            self.lost.set_result(None)
        self._ended(exc)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- requests ---

    def start(self, request: bytes, deadline: float, timeout: float, done: Done) -> None:
        """Write `request`; `done` gets the answer or an Http1Error later, never from in here.
        `deadline` is on time.monotonic(). ClosedBeforeAnswer at once if the connection is."""
        transport = self._transport
        if transport is None or self.closed or self._done is not None:
            raise ClosedBeforeAnswer("the connection was closed")
        spare, self._spare = self._spare, None
        self._parser = spare.next() if spare is not None else self._new_parser(self._cap)
        self._done = done
        self._got_bytes = False
        self._deadline, self._timeout = deadline, timeout
        self.requests += 1
        if self._outstanding is not None:
            self._outstanding[self] = None
        transport.write(request)
        if self._timer is None or deadline < self._timer_due:
            self._arm(deadline)

    async def exchange(self, request: bytes, deadline: float, timeout: float) -> Http1Response:
        """`start`, awaited: the answer, or the Http1Error raised."""
        waiter: asyncio.Future[Http1Response] = asyncio.get_running_loop().create_future()

        def done(result: Http1Response | Http1Error) -> None:
            if waiter.done():  # cancelled
                return
            if isinstance(result, Http1Error):
                waiter.set_exception(result)
            else:
                waiter.set_result(result)

        self.start(request, deadline, timeout, done)
        return await waiter

    def close(self) -> None:
        self.closed = self._closed_here = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once (a cancelled or failed request left it out of step)."""
        self.closed = self._closed_here = True
        if self._transport is not None:
            self._transport.abort()

    # --- internals ---

    def _answered(self, parser: ResponseParser) -> None:
        response = Http1Response(parser.status, parser.headers, parser.body, parser.truncated)
        if not parser.complete or not parser.keep_alive:
            self.close()  # Connection: close, HTTP/1.0, a body past the cap, or trailing bytes
        else:
            self._spare = parser
        self._finish(response)

    def _ended(self, exc: Exception | None) -> None:
        """The peer closed (EOF) or the connection was lost."""
        self.closed = True
        parser = self._parser
        if parser is None:
            return
        if self._closed_here:  # closed under a request: Http1Client.aclose
            self._fail(ProtocolFailed("not answered: the client was closed"))
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
        self.abort()
        self._finish(error)

    def _finish(self, result: Http1Response | Http1Error) -> None:
        """Hand the outcome over; the connection is free for the next request from here on."""
        done = self._done
        self._done = self._parser = None
        if done is None:
            return
        if self._outstanding is not None:
            self._outstanding.pop(self, None)
        try:
            done(result)
        except Exception as exc:  # a caller's bug must not break the connection's transport
            asyncio.get_running_loop().call_exception_handler(
                {"message": "an HTTP/1.1 answer's callback failed", "exception": exc}
            )

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = asyncio.get_running_loop().call_later(due - time.monotonic(), self._check)

    def _check(self) -> None:
        self._timer = None
        if self._done is None or self.closed:
            return  # idle: armed again by the next request
        left = self._deadline - time.monotonic()
        if left > 0:  # a later request's deadline, or fired early (uvloop's timers may by ~1 ms)
            self._arm(self._deadline)
            return
        self._fail(TimedOut(f"timed out after {self._timeout:g}s"))
