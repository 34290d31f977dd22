"""Http1Client: POSTs to plain-HTTP apps over keep-alive connections, a bounded pool per origin.

Lean on purpose: a forward is one `transport.write` and one parse, a handful of µs, where a
general-purpose client spends hundreds (see connection.py). No TLS, redirects, proxies,
cookies or content decoding: it sends no Accept-Encoding, so apps answer uncompressed.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from urllib.parse import quote, urlsplit

from apimw_cli.http1.connection import Connection, Done, Http1Response
from apimw_cli.http1.errors import (
    ClosedBeforeAnswer,
    ConnectFailed,
    Http1Error,
    ProtocolFailed,
    TimedOut,
)
from apimw_cli.http1.parsing import PARSERS, default_parser
from apimw_cli.http1.polled import open_polled

__all__ = ["Http1Client", "sends_to"]

# The client frames the request itself: a caller's Host, Content-Length or Transfer-Encoding
# is dropped (a second length would let a header smuggle a request).
_OWN_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding"})
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True, slots=True)
class _Target:
    origin: tuple[str, int]
    head: bytes  # b"POST /path HTTP/1.1\r\nHost: host:port\r\n"


class _Origin:
    """The connections to one host and port: at most `limit` open, idle ones reused last-in
    first-out, callers beyond the limit queued in order."""

    def __init__(self, origin: tuple[str, int], client: Http1Client) -> None:
        self.host, self.port = origin
        self._client = client
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()  # handed out to a request
        self.open = 0  # connections open or being opened, idle ones included
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()

    def take_idle(self) -> Connection | None:
        idle = self.idle
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
            self.open -= 1  # the app closed it while idle
        return None

    async def acquire(self, deadline: float) -> Connection:
        """An idle connection, a new one, or (at the limit) the next one released."""
        connection = self.take_idle()
        if connection is not None:
            return connection
        if self.open < self._client.max_connections_per_origin:
            self.open += 1
            return await self._connect(deadline)
        waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                handed = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # handed over as we were cancelled
                self._give_back(waiter.result())
            raise
        return handed if handed is not None else await self._connect(deadline)

    def release(self, connection: Connection) -> None:
        """A request is done with `connection`: reuse it, or free its place if it closed."""
        self.busy.discard(connection)
        if connection.closed or self._client.closed:
            connection.close()
            self._give_back(None)
            return
        self._give_back(connection)

    def discard(self, connection: Connection) -> None:
        self.busy.discard(connection)
        connection.abort()
        self._give_back(None)

    def _give_back(self, connection: Connection | None) -> None:
        """Hand `connection` (None: a free place) to the first caller still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)  # None: the waiter opens its own
                return
        if connection is None:
            self.open -= 1
        else:
            self.idle.append(connection)

    async def _connect(self, deadline: float) -> Connection:
        """Open a connection in the place already counted in `open`; give it back on failure."""
        client = self._client
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                if client.pollable and _can_watch_sockets(loop):
                    connection = Connection(
                        client.new_parser, client.max_response_body, client.outstanding
                    )
                    await open_polled(self.host, self.port, connection)
                else:
                    _, connection = await loop.create_connection(
                        lambda: Connection(client.new_parser, client.max_response_body),
                        self.host,
                        self.port,
                    )
        except BaseException as exc:
            self._give_back(None)
            if isinstance(exc, ConnectionRefusedError):
                raise ConnectFailed("connection refused") from None
            if isinstance(exc, OSError):
                raise ConnectFailed(f"connection failed: {_os_reason(exc)}") from None
            raise
        return connection


class Http1Client:
    """POST bodies to http:// URLs; raises only `Http1Error` subclasses (and CancelledError)."""

    def __init__(
        self,
        max_connections_per_origin: int = 8,
        max_response_body: int = 64 * 1024,
        *,
        parser: str | None = None,  # "httptools" or "h11"; None: httptools when installed
        pollable: bool = False,  # connections `poll` can read (polled.py), where the loop can
    ) -> None:
        if max_connections_per_origin < 1:
            raise ValueError("max_connections_per_origin must be at least 1")
        self.max_connections_per_origin = max_connections_per_origin
        self.max_response_body = max(0, max_response_body)
        self.new_parser = PARSERS[parser or default_parser()]
        self.closed = False
        self.pollable = pollable
        # Polled connections whose request awaits its answer, oldest first (Connection keeps it).
        self.outstanding: dict[Connection, None] = {}
        self._origins: dict[tuple[str, int], _Origin] = {}
        self._tasks: set[asyncio.Task[Http1Response]] = set()  # `start`s waiting for a connection

    async def post(
        self, url: str, body: bytes, headers: Sequence[tuple[bytes, bytes]], timeout: float
    ) -> Http1Response:
        """POST `body` with `headers` (plus Host and Content-Length) to `url` within `timeout`
        seconds, all included: waiting for a connection, connecting, sending and reading."""
        origin, request = self._prepare(url, body, headers)
        # time.monotonic(), not loop.time(): uvloop's is the time its current pass began.
        return await self._send(origin, request, time.monotonic() + timeout, timeout)

    def start(
        self,
        url: str,
        body: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        timeout: float,
        done: Done,
    ) -> None:
        """`post` with a callback: `done` gets the answer or an Http1Error, never from in here.
        On an idle kept-alive connection the request is written at once, and `done` is called
        from the answer's `data_received`: a caller that starts its next request from `done`
        sends one a pass of the event loop, where an awaiting task needs two (its wake-up is
        one more pass, which a loop busy with incoming requests makes long)."""
        loop = asyncio.get_running_loop()
        try:
            origin, request = self._prepare(url, body, headers)
        except Http1Error as exc:
            loop.call_soon(done, exc)
            return
        deadline = time.monotonic() + timeout
        connection = origin.take_idle()
        if connection is None:
            self._in_task(self._send(origin, request, deadline, timeout), done)
            return
        origin.busy.add(connection)
        answered = functools.partial(
            self._answered, origin, connection, request, deadline, timeout, done
        )
        connection.start(request, deadline, timeout, answered)

    def poll(self) -> None:
        """Let one awaited answer in now, if it has arrived, rather than on the loop's next pass
        (its callback runs from in here): one recv on the oldest request's connection, then the
        next one's on the next call. Nothing at all when no answer is awaited, or the client
        is not `pollable`. For a caller that is busy on the loop's time (the receiver, between
        two requests: see receiver/lanes.py)."""
        outstanding = self.outstanding
        if not outstanding:
            return
        connection = next(iter(outstanding))
        if len(outstanding) > 1:  # take turns
            del outstanding[connection]
            outstanding[connection] = None
        if connection.poll is not None:
            connection.poll()

    async def aclose(self) -> None:
        """Close every connection (ones in use at once: their requests fail) and refuse more."""
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        closing = []
        for origin in self._origins.values():
            for connection in [*origin.idle, *origin.busy]:
                connection.close()  # a FIN, not a reset: the app sees a client leave, not an error
                closing.append(connection.lost)
            origin.idle.clear()
        self._origins.clear()
        if closing:  # as httpx does: return once they are closed, so the app sees them go
            await asyncio.wait(closing, timeout=1.0)

    def _prepare(
        self, url: str, body: bytes, headers: Sequence[tuple[bytes, bytes]]
    ) -> tuple[_Origin, bytes]:
        if self.closed:
            raise ProtocolFailed("the client is closed")
        target = _target(url)
        request = b"%s%s\r\n%s" % (target.head, _header_block(headers, len(body)), body)
        origin = self._origins.get(target.origin)
        if origin is None:
            origin = self._origins[target.origin] = _Origin(target.origin, self)
        return origin, request

    async def _send(
        self,
        origin: _Origin,
        request: bytes,
        deadline: float,
        timeout: float,
        retried: bool = False,
    ) -> Http1Response:
        try:
            while True:
                connection = origin.take_idle() or await origin.acquire(deadline)
                origin.busy.add(connection)
                reused = connection.requests > 0
                try:
                    response = await connection.exchange(request, deadline, timeout)
                except ClosedBeforeAnswer:
                    origin.discard(connection)
                    if reused and not retried:  # see _RETRY_ONCE
                        retried = True
                        continue
                    raise
                except BaseException:
                    origin.discard(connection)  # timed out, malformed or cancelled: out of step
                    raise
                origin.release(connection)
                return response
        except TimeoutError:  # from waiting for or opening a connection
            raise TimedOut(f"timed out after {timeout:g}s") from None

    def _answered(
        self,
        origin: _Origin,
        connection: Connection,
        request: bytes,
        deadline: float,
        timeout: float,
        done: Done,
        result: Http1Response | Http1Error,
    ) -> None:
        """`start`'s request on an idle (so reused) connection is over."""
        if isinstance(result, Http1Response):
            origin.release(connection)
            done(result)
            return
        origin.discard(connection)
        if isinstance(result, ClosedBeforeAnswer) and not self.closed:  # see _RETRY_ONCE
            self._in_task(self._send(origin, request, deadline, timeout, retried=True), done)
            return
        done(result)

    def _in_task(self, send: Coroutine[Any, Any, Http1Response], done: Done) -> None:
        task = asyncio.get_running_loop().create_task(send)
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, done))

    def _task_done(self, done: Done, task: asyncio.Task[Http1Response]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            done(ProtocolFailed("not answered: the client was closed"))
            return
        error = task.exception()
        if error is None:
            done(task.result())
        elif isinstance(error, Http1Error):
            done(error)
        else:  # not expected: still an outcome, never a lost callback
            done(ProtocolFailed(f"{type(error).__name__}: {error}"))


# _RETRY_ONCE: a kept-alive connection the app closed while it sat idle (its keep-alive timeout)
# fails the next request before any byte of an answer: the race every HTTP/1.1 client meets, and
# retrying once on a fresh connection is what they do. Only then: on a fresh connection the
# failure is the app's own, and once any byte came back the app did see the request. (A request
# the app read and then dropped without a byte is sent twice; webhooks are at-least-once and
# carry a delivery id for apps to dedupe, so that beats a spurious failure.)


def sends_to(url: str) -> bool:
    """Whether `url` is one this client sends to (http://; callers keep httpx for https://)."""
    return url[:7].lower() == "http://"


@functools.lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    """Where to connect and the request line and Host header for `url`; ProtocolFailed."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
        host = parts.hostname
    except ValueError as exc:
        raise ProtocolFailed(f"invalid URL: {exc}") from None
    if parts.scheme.lower() != "http":
        raise ProtocolFailed(f"not an http:// URL: {parts.scheme or 'no scheme'}")
    if not host:
        raise ProtocolFailed("invalid URL: no host")
    netloc = parts.netloc.rpartition("@")[2]
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    # Percent-encode what may not appear raw in a request line (spaces, controls, non-ASCII).
    path = quote(path, safe="!$&'()*+,/:;=?@[]~%")
    try:
        host_header = netloc.encode("idna" if not netloc.isascii() else "ascii")
    except UnicodeError as exc:
        raise ProtocolFailed(f"invalid URL: {exc}") from None
    if not _TOKEN_HOST.fullmatch(host_header):
        raise ProtocolFailed("invalid URL: bad host")
    head = b"POST %s HTTP/1.1\r\nHost: %s\r\n" % (path.encode("ascii"), host_header)
    return _Target((host, port), head)


_TOKEN_HOST = re.compile(rb"[A-Za-z0-9.\-_~!$&'()*+,;=:\[\]%]+")
# Which of a list of header names to send, by the names' tuple: senders repeat the same names
# event after event, so the names are checked once, not per request.
_plans: dict[tuple[bytes, ...], tuple[int, ...] | None] = {}  # None: send them all
_PLANS_REMEMBERED = 256
_first = itemgetter(0)


def _header_block(headers: Sequence[tuple[bytes, bytes]], length: int) -> bytes:
    """Content-Length and the caller's headers as lines; ProtocolFailed for a name that is not
    a token or a value holding CR, LF or NUL (a header must not be able to inject another)."""
    names = tuple(map(_first, headers))  # (map and join: no Python code per header)
    plan = _plans[names] if names in _plans else _plan(names)
    if plan is not None:
        headers = [headers[index] for index in plan]
    if not headers:
        return b"Content-Length: %d\r\n" % length
    try:
        lines = b"\r\n".join(map(b": ".join, headers))
    except TypeError:  # a value that is not bytes
        raise ProtocolFailed("refused a header value that is not bytes") from None
    breaks = len(headers) - 1
    if lines.count(b"\n") != breaks or lines.count(b"\r") != breaks or b"\0" in lines:
        raise ProtocolFailed("refused a header value holding CR, LF or NUL")
    return b"Content-Length: %d\r\n%s\r\n" % (length, lines)


def _plan(names: tuple[bytes, ...]) -> tuple[int, ...] | None:
    """The indexes of the names to send (None: all); ProtocolFailed for one not a token."""
    for name in names:
        if not isinstance(name, bytes) or not _TOKEN.fullmatch(name):
            raise ProtocolFailed(f"refused an invalid header name: {name!r}"[:120])
    kept = tuple(i for i, name in enumerate(names) if name.lower() not in _OWN_HEADERS)
    plan = None if len(kept) == len(names) else kept
    if len(_plans) < _PLANS_REMEMBERED:
        _plans[names] = plan
    return plan


def _can_watch_sockets(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `loop` has add_reader for polled.py: all but Windows' proactor loop (there a
    `pollable` client's connections are the loop's own, and `poll` finds none to read)."""
    proactor = getattr(asyncio, "ProactorEventLoop", None)
    return proactor is None or not isinstance(loop, proactor)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
