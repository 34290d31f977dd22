"""One request on our own HTTP/1.1 protocol (fast_protocol.py): its ASGI receive and send, and
the answer's bytes, made at once (the usual empty answer's head is cached per connection)."""

from __future__ import annotations

import asyncio
import http
from collections.abc import Generator
from typing import Any, Protocol

from starlette.types import Message

from apimw_cli.receiver.body import SKIPPED

__all__ = ["CONTINUE", "Connection", "Request", "plain_answer"]

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_KEEP_ALIVE = b"connection: keep-alive\r\n"
_CLOSE = b"connection: close\r\n"
_EMPTY_LENGTH = [(b"content-length", b"0")]


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")


_STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}


def plain_answer(status: int, text: str) -> bytes:
    """A complete text/plain answer that closes the connection."""
    body = text.encode("ascii")
    return b"%scontent-type: text/plain; charset=utf-8\r\n%scontent-length: %d\r\n\r\n%s" % (
        _STATUS_LINES[status],
        _CLOSE,
        len(body),
        body,
    )


class _Done:
    """What `send` returns: an awaitable already complete (a coroutine per send costs)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]  # an iterator is all `await` needs


_DONE = _Done()


class Connection(Protocol):
    """What a request needs of its connection (fast_protocol.FastProtocol)."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    server_state: Any
    default_seen: object
    empty_heads: dict[int, bytes]
    paused: bool

    def update_reading(self) -> None: ...


class Request:
    """One request: its scope, its body as it arrives, and the answer the app sends."""

    __slots__ = (
        "answer",
        "body_sent",
        "buffered",
        "chunks",
        "complete",
        "connection",
        "continue_expected",
        "gone",
        "head_only",
        "keep_alive",
        "plain",
        "scope",
        "size",
        "skipped",
        "started",
        "waiter",
    )

    def __init__(self, connection: Connection, scope: dict[str, Any]) -> None:
        self.connection = connection
        self.scope = scope
        self.chunks: list[bytes] = []
        self.size = 0  # body bytes arrived
        self.skipped = 0  # of which dropped before the app ran (past the limit)
        self.complete = False  # the whole body is in
        self.keep_alive = True
        self.plain = True  # HTTP/1.1 kept alive: the usual answer's head is cached
        self.buffered = 0  # body bytes the app has not taken yet
        self.continue_expected = False
        self.head_only = False  # HEAD: the answer has no body
        self.started = False
        self.body_sent = False  # the app got its last body message
        self.gone = False  # the client disconnected
        self.waiter: asyncio.Future[None] | None = None
        self.answer: list[bytes] | None = None  # head and body, once the app has answered

    async def receive(self) -> Message:
        while True:
            if self.chunks or (self.complete and not self.body_sent):
                return self._take()
            if self.gone or self.body_sent:
                if not self.gone:  # ASGI: after the body, receive waits for the disconnect
                    await self._wait()
                    continue
                return {"type": "http.disconnect"}
            if self.continue_expected:  # the app wants the body: tell the client to send it
                self.continue_expected = False
                self.connection.transport.write(CONTINUE)
            await self._wait()

    def body(self) -> bytes:
        """The whole body, once it is all in (`complete`); taken, as `receive` would."""
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.body_sent = True
        return body

    def _take(self) -> Message:
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        message: Message = {"type": "http.request", "body": body, "more_body": not self.complete}
        if self.skipped:
            message[SKIPPED] = self.skipped
            self.skipped = 0
        self.body_sent = self.complete
        if self.connection.paused:
            self.connection.update_reading()
        return message

    async def _wait(self) -> None:
        self.waiter = waiter = self.connection.loop.create_future()
        self.connection.update_reading()
        try:
            await waiter
        finally:
            self.waiter = None

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def send(self, message: Message) -> _Done:
        kind = message["type"]
        if kind == "http.response.start":
            self._start_answer(message["status"], message.get("headers", ()))
        elif kind == "http.response.body" and self.answer is not None and not self.head_only:
            self.answer.append(message.get("body", b""))
        return _DONE

    def reply(self, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...]) -> None:
        """The app's answer given whole (`ReceiverApp.respond_now`): what `send` makes of its
        start and body messages, Content-Length added."""
        if body or headers:
            self._start_answer(status, [*headers, (b"content-length", b"%d" % len(body))])
            if not self.head_only:
                self.answer.append(body)  # type: ignore[union-attr]  # _start_answer set it
        else:
            self._start_answer(status, _EMPTY_LENGTH)

    def _start_answer(self, status: int, headers: Any) -> None:
        head = _STATUS_LINES.get(status) or _status_line(status)
        connection = self.connection
        default = connection.server_state.default_headers  # uvicorn's date header
        usual = self.plain and headers == _EMPTY_LENGTH  # the usual answer: its head is cached
        if usual and default is connection.default_seen:
            cached = connection.empty_heads.get(status)
            if cached is not None:
                self.answer = [head, cached]
                return
        lines = [b"%s: %s\r\n" % (name, value) for name, value in (*default, *headers)]
        if _CLOSE in lines:
            self.keep_alive = False
        elif not self.keep_alive:
            lines.append(_CLOSE)
        elif self.scope["http_version"] == "1.0":
            lines.append(_KEEP_ALIVE)
        lines.append(b"\r\n")
        rest = b"".join(lines)
        if usual:
            if default is not connection.default_seen:
                connection.empty_heads.clear()
                connection.default_seen = default
            connection.empty_heads[status] = rest
        self.answer = [head, rest]
