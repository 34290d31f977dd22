"""A capture server: an HTTP endpoint on 127.0.0.1:0, in a thread, that records every request
and answers as the test says. It plays a webhook endpoint, the app `listen` forwards to, or any
other local HTTP peer a test needs.

    with CaptureServer(Reply(500)) as server:        # every request gets a 500
        ...
        server.wait_requests(3)

A responder (`Captured -> Reply`) decides per request; it runs in the request's thread, so it
may block (a slow or held app).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from apimw_cli.catalog import VERIFICATION_TYPE
from apimw_cli.protocol import DELIVERY_HEADER
from tests.support.waiting import wait_for


class Headers(Mapping[str, str]):
    """Request headers, looked up by name in any case (iterates lowercased names)."""

    def __init__(self, items: Iterator[tuple[str, str]] | list[tuple[str, str]]) -> None:
        self._map = {name.lower(): value for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._map[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"Headers({self._map!r})"


@dataclass(frozen=True)
class Captured:
    """One request as the server received it."""

    method: str
    path: str
    headers: Headers
    body: bytes
    time: float  # time.monotonic() at arrival

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def payload(self) -> dict[str, Any]:
        """The body's JSON object; {} when the body is not one."""
        try:
            value = self.json()
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def event_type(self) -> str | None:
        kind = self.payload.get("type")
        return kind if isinstance(kind, str) else None

    @property
    def is_verification(self) -> bool:
        return self.event_type == VERIFICATION_TYPE

    @property
    def delivery_id(self) -> str | None:
        return self.header(DELIVERY_HEADER)


@dataclass(frozen=True)
class Reply:
    """An answer: status, body and headers, sent after `delay` seconds."""

    status: int = 200
    body: bytes = b"ok"
    content_type: str | None = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


Responder = Callable[[Captured], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: CaptureServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on a slow answer is expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # The status line and the body go out in two writes: with Nagle's algorithm the second
    # waits for the client's delayed ACK, 40 ms an answer on keep-alive connections.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        owner = self.server.owner
        arrived = time.monotonic()
        request = Captured(
            self.command, self.path, Headers(self.headers.items()), self._read_body(), arrived
        )
        owner._record(request)
        reply = owner.respond(request)
        if reply.delay and owner._stopping.wait(reply.delay):
            return  # shutting down: drop the connection
        try:
            self.send_response(reply.status)
            if reply.content_type is not None:
                self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body and self.command != "HEAD" and reply.status not in (204, 304):
                self.wfile.write(reply.body)
        except OSError:
            pass  # the sender gave up (timeout): nothing to answer to

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class CaptureServer:
    """Records every request and answers with `respond` (a Reply for all, or a function).

    `path` is the path of `url`; `unique_path=True` adds a random suffix, for endpoints that a
    long-lived sandbox may still deliver to after a later test reuses the port. `keep_alive`
    speaks HTTP/1.1 as app servers do; the default is HTTP/1.0, one request a connection.
    """

    def __init__(
        self,
        respond: Responder | Reply | None = None,
        *,
        path: str = "/hook",
        unique_path: bool = False,
        keep_alive: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        reply = respond if isinstance(respond, Reply) else Reply()
        self.respond: Responder = respond if callable(respond) else (lambda _request: reply)
        self.path = f"{path}-{uuid.uuid4().hex[:12]}" if unique_path else path
        self._lock = threading.Lock()
        self._requests: list[Captured] = []
        self._stopping = threading.Event()
        protocol = "HTTP/1.1" if keep_alive else "HTTP/1.0"
        handler = type("Handler", (_Handler,), {"protocol_version": protocol})
        self._server = _Server((host, 0), handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def _record(self, request: Captured) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[Captured]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def bodies(self) -> list[bytes]:
        return [request.body for request in self.requests]

    def wait_requests(
        self,
        count: int = 1,
        timeout: float = 10.0,
        where: Callable[[Captured], bool] = lambda _request: True,
    ) -> list[Captured]:
        """Wait until at least `count` requests matching `where` arrived; return those."""

        def enough() -> list[Captured] | None:
            found = [request for request in self.requests if where(request)]
            return found if len(found) >= count else None

        return wait_for(enough, timeout, f"{count} requests at {self.url}")

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
