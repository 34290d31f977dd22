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
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from apimw_cli.http1.connection import Connection, Http1Response
from apimw_cli.http1.errors import ClosedBeforeAnswer, ConnectFailed, ProtocolFailed, TimedOut
from apimw_cli.http1.parsing import PARSERS, default_parser

__all__ = ["Http1Client"]

# The client frames the request itself: a caller's Host, Content-Length or Transfer-Encoding
# is dropped (a second length would let a header smuggle a request).
_OWN_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding"})
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NAMES_REMEMBERED = 512


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
        if connection.closed or self._client.closed:
            connection.close()
            self._give_back(None)
            return
        self._give_back(connection)

    def discard(self, connection: Connection) -> None:
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
    ) -> None:
        if max_connections_per_origin < 1:
            raise ValueError("max_connections_per_origin must be at least 1")
        self.max_connections_per_origin = max_connections_per_origin
        self.max_response_body = max(0, max_response_body)
        self.new_parser = PARSERS[parser or default_parser()]
        self.closed = False
        self._origins: dict[tuple[str, int], _Origin] = {}

    async def post(
        self, url: str, body: bytes, headers: Sequence[tuple[bytes, bytes]], timeout: float
    ) -> Http1Response:
        """POST `body` with `headers` (plus Host and Content-Length) to `url` within `timeout`
        seconds, all included: waiting for a connection, connecting, sending and reading."""
        if self.closed:
            raise ProtocolFailed("the client is closed")
        target = _target(url)
        request = b"%s%s\r\n%s" % (target.head, _header_block(headers, len(body)), body)
        origin = self._origins.get(target.origin)
        if origin is None:
            origin = self._origins[target.origin] = _Origin(target.origin, self)
        # time.monotonic(), not loop.time(): uvloop's is the time its current pass began.
        deadline = time.monotonic() + timeout
        try:
            return await self._exchange(origin, request, deadline, timeout)
        except TimeoutError:  # from waiting for or opening a connection
            raise TimedOut(f"timed out after {timeout:g}s") from None

    async def _exchange(
        self, origin: _Origin, request: bytes, deadline: float, timeout: float
    ) -> Http1Response:
        for retried in (False, True):
            connection = origin.take_idle() or await origin.acquire(deadline)
            reused = connection.requests > 0
            try:
                response = await connection.exchange(request, deadline, timeout)
            except ClosedBeforeAnswer:
                origin.discard(connection)
                # A kept-alive connection the app closed while it sat idle (its keep-alive
                # timeout) fails the next request before any byte of an answer: the race every
                # HTTP/1.1 client meets. Retrying once on a fresh connection is what they do
                # too. Only then: on a fresh connection the failure is the app's own, and once
                # any byte came back the app did see the request. (A request the app read and
                # then dropped without a byte is sent twice; webhooks are at-least-once and
                # carry a delivery id for apps to dedupe, so that beats a spurious failure.)
                if reused and not retried:
                    continue
                raise
            except BaseException:
                origin.discard(connection)  # timed out, malformed or cancelled: out of step
                raise
            origin.release(connection)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the idle connections; ones in use close when their request ends."""
        self.closed = True
        for origin in self._origins.values():
            while origin.idle:
                origin.idle.pop().close()
        self._origins.clear()


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
_names: dict[bytes, bool] = {}  # header names seen: sent (True) or dropped (False)


def _header_block(headers: Sequence[tuple[bytes, bytes]], length: int) -> bytes:
    """Content-Length and the caller's headers as lines; ProtocolFailed for a name that is not
    a token or a value holding CR, LF or NUL (a header must not be able to inject another)."""
    lines = [b"Content-Length: %d\r\n" % length]
    for name, value in headers:
        send = _names.get(name)
        if send is None:
            send = _check_name(name)
        if send:
            lines.append(b"%s: %s\r\n" % (name, value))
    block = b"".join(lines)
    count = len(lines)
    if block.count(b"\n") != count or block.count(b"\r") != count or b"\0" in block:
        raise ProtocolFailed("refused a header value holding CR, LF or NUL")
    return block


def _check_name(name: bytes) -> bool:
    if not isinstance(name, bytes) or not _TOKEN.fullmatch(name):
        raise ProtocolFailed(f"refused an invalid header name: {name!r}"[:120])
    send = name.lower() not in _OWN_HEADERS
    if len(_names) < _NAMES_REMEMBERED:
        _names[name] = send
    return send


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
