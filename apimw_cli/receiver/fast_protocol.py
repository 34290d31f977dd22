"""The receiver's HTTP/1.1 protocol on the fast stack: httptools' parser driving ReceiverApp.

uvicorn's HttpToolsProtocol runs each request in a task of its own, with an Event, a cycle
object and a write per send(): more than half of a delivery's CPU on the fast stack. Here a
request whose body is all in is answered on the spot when the app says nothing has to wait
(`ReceiverApp.answers_at_once`: ack and fixed answers without --delay, the usual case): one
call, `respond_now`, with no coroutine or ASGI message per request, and its answer goes out in
one write. Other requests (--delay, passthrough's forward, a body still arriving or past the
limit, Expect: 100-continue) run the app as ASGI in a task; the connection then reads no
further request until it has answered, so answers keep the order of the requests.

uvicorn's Server still runs this protocol (`Config(http=...)`): its sockets, lifespan (the
forwarder's start and drain) and graceful shutdown (`connections`, `shutdown()`, `tasks`).
The guard (guard.py) bounds slow and idle connections as for uvicorn's own protocols. The
pure-Python stack (h11) keeps uvicorn's protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, ClassVar

import httptools

from apimw_cli.receiver.app import ReceiverApp
from apimw_cli.receiver.fast_request import Request, plain_answer
from apimw_cli.receiver.guard import GuardShared, IdleGuard

__all__ = ["HEAD_LIMIT", "fast_protocol"]

HEAD_LIMIT = 64 * 1024  # a request line and headers past this: 431 (llhttp keeps no bound)
BUFFER_LIMIT = 64 * 1024  # a body the app has not read yet: reading pauses past this
# Seconds a refused connection (400, 431) keeps reading and discarding after its answer, so
# that what the client is still sending does not make the kernel reset the connection and
# throw the answer away before the client reads it (a "lingering close", as nginx does).
LINGER = 2.0
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_QUESTION, _HASH = 0x3F, 0x23
_log = logging.getLogger("uvicorn.error")  # where uvicorn's own protocol logs, see output/logs
BAD_REQUEST = plain_answer(400, "Invalid HTTP request received.")
HEAD_TOO_LARGE = plain_answer(431, "Request header fields too large.")
SERVER_ERROR = plain_answer(500, "Internal Server Error")


class _HeadTooLarge(Exception):
    pass


class FastProtocol(IdleGuard, asyncio.Protocol):
    """One connection; see the module docstring. `fast_protocol` makes the class for a server."""

    app: ClassVar[ReceiverApp]  # a callable object, not a method
    max_body: ClassVar[int]

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: Any = None,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.parser = httptools.HttpRequestParser(self)
        # As uvicorn: data after a `Connection: close` request is no parse error (it is ignored).
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.queue: deque[Request] = deque()  # headers in, not yet answered; [0] runs
        self.heading: Request | None = None  # the request whose head is being parsed
        self.current: Request | None = None  # the request whose body is being parsed
        self.url = b""
        self.head_size = 0
        self.big_read = False
        self.headers_in: list[tuple[bytes, bytes]] = []
        self.in_head = False
        self.reads = 0  # data_received calls, to tell a head spread over several reads
        self.head_read = 0
        self.stopped = False  # nothing more is parsed (an error, an upgrade, Connection: close)
        self.ending: bytes | None = None  # closing once the queue is answered, with this
        self.paused = False
        self.advancing = False
        self.default_seen: object = None
        self.empty_heads: dict[int, bytes] = {}

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream: uvloop's TCPTransport
        self.connections.add(self)
        if self._admit(len(self.connections)):
            self._mark_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self._forget()
        self.stopped = True
        for request in self.queue:
            request.gone = True
            request.wake()

    def data_received(self, data: bytes) -> None:
        if self.stopped:
            return
        self._partial = True
        self.reads += 1
        self.big_read = len(data) > HEAD_LIMIT  # a head may pass the limit within this read
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stop(b"")  # treated as a plain request; what follows is not HTTP/1.1
        except httptools.HttpParserError as exc:
            too_large = isinstance(exc.__cause__ or exc.__context__, _HeadTooLarge)
            self._drop_unfinished()
            self._stop(HEAD_TOO_LARGE if too_large else BAD_REQUEST)
        else:
            if self.in_head and self.head_read != self.reads:  # a head over several reads
                # The reads after its first, counted as they come: a bound on what is held
                # (on_headers_complete measures the head exactly).
                self.head_size += len(data)
                if self.head_size > HEAD_LIMIT:
                    self._stop(HEAD_TOO_LARGE)
                    return
            queue = self.queue
            if queue and not queue[0].started:  # headers in, body still to come
                self._start_task(queue[0])

    def eof_received(self) -> None:
        pass  # asyncio then closes the transport, and connection_lost cleans up

    def shutdown(self) -> None:
        """uvicorn's server is stopping: close once the requests in progress are answered."""
        self.ending = self.ending or b""
        if not self.queue and not self.transport.is_closing():
            self._close(self.ending)

    # --- httptools' callbacks ---

    def on_message_begin(self) -> None:
        self.url = b""
        self.head_size = 0
        self.in_head = True
        self.head_read = self.reads
        self.heading = request = self._new_request()
        self.headers_in = request.scope["headers"]
        if self.queue:  # a pipelined request behind one in progress: read no further
            self.update_reading()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # Kept lean, as it runs for every header of every request: the head's size is checked
        # once it is complete, or as reads add up (data_received); one read is bounded.
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.heading.continue_expected = True  # type: ignore[union-attr]
        self.headers_in.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        request = self.heading or self._new_request()
        self.current = request
        parser = self.parser
        scope = request.scope
        if self.big_read or self.head_read != self.reads:  # else within one small read
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in scope["headers"])
            if size > HEAD_LIMIT:
                raise _HeadTooLarge
        method = scope["method"] = parser.get_method().decode("ascii")
        version = scope["http_version"] = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        request.plain = request.keep_alive and version == "1.1"
        request.head_only = method == "HEAD"
        url = self.url
        # Bytes looked for as ints: `b"?" in url` first tries the needle as an int, and
        # formats then clears a TypeError (~2,000 instructions a test, on every request).
        if url[:1] != b"/" or _QUESTION in url or _HASH in url:
            parsed = httptools.parse_url(url)
            url, scope["query_string"] = parsed.path or b"/", parsed.query or b""
        scope["raw_path"] = url
        path = url.decode("ascii")
        scope["path"] = _unquote(path) if "%" in path else path
        self.queue.append(request)

    def on_body(self, body: bytes) -> None:
        request = self.current
        assert request is not None
        request.size += len(body)
        if request.answer is not None:
            return  # answered already: the rest of the body is read and dropped
        if not request.started and request.size > self.max_body:
            request.skipped = request.size  # never kept past the limit: the app answers 413
            request.chunks.clear()
            return
        request.chunks.append(body)
        if request.started:
            request.buffered += len(body)
            request.wake()
            if request.buffered > BUFFER_LIMIT:
                self.update_reading()

    def on_message_complete(self) -> None:
        request = self.current
        assert request is not None
        request.complete = True
        if not request.keep_alive:
            self.stopped = True  # parse nothing after it; close once answered
        if request.started:
            request.wake()
        elif request is self.queue[0]:
            self._advance()

    # --- running the app ---

    def _new_request(self) -> Request:
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "scheme": "http",
            "root_path": "",
            "query_string": b"",
            "headers": [],
        }
        return Request(self, scope)

    def _advance(self) -> None:
        """Run the requests at the head of the queue, in order, until one waits."""
        if self.advancing:
            return  # an outer call carries on (a loop, not a recursion per request)
        self.advancing = True
        try:
            queue = self.queue
            while queue and not self.transport.is_closing():
                request = queue[0]
                if request.started:
                    break
                if not request.complete or not self.app.answers_at_once or request.skipped:
                    self._start_task(request)
                    break
                self._run_at_once(request)
            if not queue:
                self._went_idle()
        finally:
            self.advancing = False

    def _run_at_once(self, request: Request) -> None:
        """Answer a request whose body is all in, on the spot (`ReceiverApp.respond_now`)."""
        request.started = True
        try:
            request.reply(*self.app.respond_now(request.scope, request.body()))
        except Exception:
            _log.exception("Exception in ASGI application")
            request.answer = None
        self._answer(request)

    def _start_task(self, request: Request) -> None:
        request.started = True
        app = self.app(request.scope, request.receive, request.send)
        self._track(self.loop.create_task(self._finish(request, app)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)  # uvicorn's graceful shutdown waits for these
        task.add_done_callback(self.tasks.discard)
        self.update_reading()

    async def _finish(self, request: Request, rest: Any) -> None:
        try:
            await rest
        except asyncio.CancelledError:  # uvicorn's graceful shutdown ran out: no answer then
            self.transport.close()
            raise
        except Exception:
            _log.exception("Exception in ASGI application")
            request.answer = None
        self._answer(request)
        self._advance()

    def _answer(self, request: Request) -> None:
        """Write the app's answer in one go (closing when the request or the server says so)."""
        self.queue.popleft()
        transport = self.transport
        if request.gone or transport.is_closing():
            return
        answer = request.answer
        if answer is None:  # the app ended without an answer, or failed
            self._close(SERVER_ERROR)
            return
        transport.write(b"".join(answer))
        if not request.keep_alive:
            self._close(b"")
        elif not self.queue and self.ending is not None:
            self._close(self.ending)

    def _went_idle(self) -> None:
        if self.ending is not None or self.stopped:
            self.shutdown()  # everything in is answered: now close
        elif not self.transport.is_closing():
            self._mark_idle()
            if self.paused:
                self.update_reading()

    def _drop_unfinished(self) -> None:
        """A parse error inside a body (a malformed chunk): that request can never be whole.
        Left in the queue it would wait unanswered for ever, and count as in progress, which
        the connection cap never evicts. Not running yet, it leaves the queue (nothing of it
        was reported); running, its app is told the client is gone. The 400 then follows
        whatever was answered before it."""
        request = self.current
        if request is None or request.complete or request not in self.queue:
            return
        if request.started:
            request.gone = True
            request.wake()
        else:
            self.queue.remove(request)

    def _stop(self, answer: bytes) -> None:
        """Parse nothing more; answer what is in, then close with `answer` (a 400, say)."""
        self.stopped = True
        self.ending = answer
        if not self.queue:
            self.shutdown()
        else:
            self.update_reading()

    def update_reading(self) -> None:
        """Read while the request in progress may need more: not when another request begins
        behind it, when its unread body is past BUFFER_LIMIT, or when nothing more is parsed."""
        queue = self.queue
        head = queue[0] if queue else None
        pause = (
            self.stopped
            or len(queue) > 1
            or (head is not None and self.in_head)
            or (head is not None and head.waiter is None and head.buffered > BUFFER_LIMIT)
        )
        if pause != self.paused and not self.transport.is_closing():
            self.paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _is_idle(self) -> bool:
        return not self.queue

    def _close(self, answer: bytes) -> None:
        transport = self.transport
        if not answer or not self.stopped or not transport.can_write_eof():
            super()._close(answer)
            return
        # A refusal while the client may still be sending: answer, end our side, and discard
        # what comes (data_received ignores it once stopped) until the client closes too.
        self._forget()
        # Evictable, first of all: it has had its answer, and the cap must not count it (a
        # client sending garbage in a loop would otherwise keep connections for LINGER each).
        idle = self.shared.idle
        idle[self] = None
        idle.move_to_end(self, last=False)
        self._partial = False  # answered: evicting it just closes it
        transport.write(answer)
        transport.write_eof()
        self.paused = False
        transport.resume_reading()
        self.loop.call_later(LINGER, transport.close)


def _unquote(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path)


def fast_protocol(app: ReceiverApp, read_timeout: float, cap: int) -> type:
    """A protocol class for `uvicorn.Config(http=...)` serving the receiver's `app` with the
    guard's `read_timeout` and connection `cap`."""
    namespace = {
        "shared": GuardShared(read_timeout, cap),
        "app": app,
        "max_body": app.config.max_body,
    }
    return type("FastProtocol", (FastProtocol,), namespace)
