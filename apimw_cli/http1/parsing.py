"""Response parsers behind one small interface: httptools (llhttp, C) when it is importable, else
h11 (pure Python, always installed with uvicorn). Each gathers the status, the headers and at most
`cap` bytes of the body; `truncated` says the body went past the cap (the caller then stops
reading and closes the connection rather than drain an answer it will not keep)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import h11

from apimw_cli.http1.errors import ProtocolFailed

try:
    import httptools

    HAVE_HTTPTOOLS = True
except ImportError:  # pragma: no cover - httptools has wheels wherever CPython runs
    HAVE_HTTPTOOLS = False

__all__ = ["PARSERS", "ResponseParser", "default_parser"]

INCOMPLETE = "the app closed the connection before its answer was complete"
MAX_HEAD = 64 * 1024  # bytes of status line and headers: past this an answer is refused
TOO_LARGE = f"malformed answer: its headers run past {MAX_HEAD // 1024} KB"


class ResponseParser:
    """What a parser gathers from one response; a subclass feeds it."""

    __slots__ = (
        "_cap",
        "_parts",
        "_size",
        "complete",
        "headers",
        "keep_alive",
        "status",
        "truncated",
    )

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[bytes] = []
        self._size = 0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False  # the whole response was read
        self.keep_alive = False  # ... and the connection may carry the next request
        self.truncated = False  # the body went past the cap: stop reading

    def next(self) -> ResponseParser:
        """A parser for the next response on the connection (this one was complete)."""
        return type(self)(self._cap)

    def feed(self, data: bytes) -> None:
        """Parse more of the response; ProtocolFailed if it is not valid HTTP/1.1."""
        raise NotImplementedError

    def feed_eof(self) -> None:
        """The peer closed: a body read until close is complete; ProtocolFailed otherwise."""
        raise NotImplementedError

    @property
    def body(self) -> bytes:
        return b"".join(self._parts)

    def _keep(self, chunk: bytes) -> None:
        room = self._cap - self._size
        if len(chunk) > room:
            chunk = chunk[:room]
            self.truncated = True
        if chunk:
            self._parts.append(chunk)
            self._size += len(chunk)

    def _until_close(self) -> bool:
        """Whether the headers give the body no length (it runs until the connection closes)."""
        return not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )


class HttptoolsParser(ResponseParser):
    """llhttp through httptools: its callbacks fill the gathered state."""

    __slots__ = ("_extra", "_head", "_headers_done", "_parser")

    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        self._parser = httptools.HttpResponseParser(self)
        self._headers_done = False
        self._head = 0  # bytes fed before the headers were complete
        self._extra = False  # bytes after the response: the connection is not reused

    def next(self) -> ResponseParser:
        # llhttp carries on with the next message of a kept-alive stream: reuse it (making one
        # costs more than the rest of parsing a small answer).
        self._parts = []
        self._size = self.status = 0
        self.headers = []
        self.complete = self.keep_alive = self.truncated = self._headers_done = False
        self._head = 0
        return self

    def feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.complete:
                raise ProtocolFailed(f"malformed answer: {_reason(exc)}") from None
            self._extra = True
        if self._extra:
            self.keep_alive = False
        if not self._headers_done:  # llhttp keeps no bound on headers: this parser does
            self._head += len(data)
            if self._head > MAX_HEAD:
                raise ProtocolFailed(TOO_LARGE)

    def feed_eof(self) -> None:
        if self.complete:
            return
        if self._headers_done and self.status >= 200 and self._until_close():
            self.complete = True
            self.keep_alive = False
            return
        raise ProtocolFailed(INCOMPLETE)

    # httptools' callbacks
    def on_message_begin(self) -> None:
        if self.complete:
            self._extra = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.complete:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if not self.complete:
            self.status = self._parser.get_status_code()
            self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if not self.complete:
            self._keep(body)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if self.status < 200:  # an interim answer (100 Continue, 103): the real one follows
            self.headers = []
            self._headers_done = False
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive() and not self._extra


class H11Parser(ResponseParser):
    """h11, told of a POST it did not write (we write the request ourselves, in one piece)."""

    __slots__ = ("_connection",)

    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        framing = [("Host", "apimw"), ("Content-Length", "0")]
        connection.send(h11.Request(method="POST", target="/", headers=framing))
        connection.send(h11.EndOfMessage())
        self._connection = connection

    def feed(self, data: bytes) -> None:
        if self.complete:
            self.keep_alive = False  # bytes after the response
            return
        self._connection.receive_data(data)
        self._events()

    def feed_eof(self) -> None:
        if self.complete:
            return
        self._connection.receive_data(b"")
        with contextlib.suppress(ProtocolFailed):  # h11 words it differently: say it one way
            self._events()
        if not self.complete:
            raise ProtocolFailed(INCOMPLETE)

    def _events(self) -> None:
        connection = self._connection
        try:
            while not self.truncated:
                event = connection.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Response):
                    self.status = event.status_code
                    self.headers = list(event.headers.raw_items())
                elif isinstance(event, h11.Data):
                    self._keep(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    self.complete = True
                    self.keep_alive = connection.their_state is h11.DONE and not any(
                        connection.trailing_data[0]
                    )
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    raise ProtocolFailed(INCOMPLETE)
        except h11.RemoteProtocolError as exc:
            raise ProtocolFailed(f"malformed answer: {exc}") from None


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text[:200] if text else type(exc).__name__


PARSERS: dict[str, Callable[[int], ResponseParser]] = {"h11": H11Parser}
if HAVE_HTTPTOOLS:
    PARSERS["httptools"] = HttptoolsParser


def default_parser() -> str:
    """httptools where it is installed (llhttp: a few µs a response), else h11."""
    return "httptools" if "httptools" in PARSERS else "h11"
