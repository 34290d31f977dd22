"""Helpers for the receiver tests: signed events, a sink that collects, a local app.

The receiver runs for real (server.run_in_thread on port 0) and is driven over loopback.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.receiver.events import Forwarded, Received, ReceiverConfig
from apimw_cli.receiver.server import RunningReceiver, run_in_thread
from apimw_cli.server_stack import ServerStack, detect
from apimw_cli.signing import sign
from tests.support.waiting import wait_for

# The two stacks the receiver runs on: the fast one where its C extensions import (else its
# runs are skipped), and the pure-Python fallback. Modules whose behaviour depends on the HTTP
# parser or the loop (the guard, limits, pipelining) run over both with `every_server_stack`.
FAST_STACK = ServerStack("uvloop", "httptools")
PURE_STACK = ServerStack("asyncio", "h11")
_HERE = detect({})  # what imports here, whatever APIMW_SERVER_STACK says
_FAST_HERE = (_HERE.loop, _HERE.http) == ("uvloop", "httptools")
STACKS = [
    pytest.param(PURE_STACK, id="asyncio-h11"),
    pytest.param(
        FAST_STACK,
        id="uvloop-httptools",
        marks=pytest.mark.skipif(not _FAST_HERE, reason="uvloop or httptools does not import"),
    ),
]


@pytest.fixture(params=STACKS, name="server_stack")
def every_server_stack(request: pytest.FixtureRequest) -> ServerStack:
    """`server_stack` (conftest.py), once per stack: import it into a module to run its
    receivers on both."""
    stack: ServerStack = request.param
    return stack


SECRET = "whsec_receiver_test"
OLD_SECRET = "whsec_receiver_old"
TLS = ssl.create_default_context()  # plain http on loopback; one context saves ~60 ms a client


def event_body(event_type: str = "message.sent", n: int = 0, **data: Any) -> bytes:
    """A compact APIMW event, unique per `n`."""
    payload = {
        "type": event_type,
        "timestamp": "2024-01-15T10:30:00Z",
        "data": {"message_id": f"wamid.TEST{n}", "to": "+1234567890", **data},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def received(n: int = 0) -> Received:
    """A `Received` event as the receiver reports it (for recorder and view tests)."""
    return Received(
        record_id=f"rec_{n:012x}",
        received_at=1700000000.0 + n,
        method="POST",
        path="/",
        headers={"content-type": "application/json"},
        body=event_body(n=n),
        status=200,
        kind="event",
    )


def signed_headers(
    body: bytes, secret: str | None = SECRET, delivery: str | None = None, **extra: str
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "APIMW-Webhooks/1.0"}
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    if delivery is not None:
        headers["X-APIMW-Delivery"] = delivery
    headers.update(extra)
    return headers


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Collector:
    """A thread-safe sink that keeps everything the receiver reports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Received | Forwarded] = []

    def __call__(self, item: Received | Forwarded) -> None:
        with self._lock:
            self._items.append(item)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return [i for i in self._items if isinstance(i, Received)]

    @property
    def forwarded(self) -> list[Forwarded]:
        with self._lock:
            return [i for i in self._items if isinstance(i, Forwarded)]

    def items(self) -> list[Received | Forwarded]:
        with self._lock:
            return list(self._items)

    def wait_received(self, count: int = 1, timeout: float = 5.0) -> list[Received]:
        return wait_for(
            lambda: self.received if len(self.received) >= count else None,
            timeout,
            f"{count} received",
        )

    def wait_forwarded(self, count: int = 1, timeout: float = 5.0) -> list[Forwarded]:
        return wait_for(
            lambda: self.forwarded if len(self.forwarded) >= count else None,
            timeout,
            f"{count} forwarded",
        )


@dataclass
class Live:
    """A running receiver with its collector and a keep-alive client.

    Requests go one at a time and the receiver reports a request before answering it, so the
    last report when an answer arrives is that request's: `received_for` returns it.
    """

    running: RunningReceiver
    sink: Collector
    client: httpx.Client
    answers: list[tuple[httpx.Response, Received]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.running.endpoint

    @property
    def record(self) -> Path:
        assert self.running.config.record is not None
        return self.running.config.record

    def post(
        self,
        body: bytes,
        secret: str | None = SECRET,
        delivery: str | None = None,
        path: str | None = None,
        **extra: str,
    ) -> httpx.Response:
        url = self.running.url + path if path is not None else self.url
        return self.request(
            "POST", url, content=body, headers=signed_headers(body, secret, delivery, **extra)
        )

    def request(self, method: str, url: str | None = None, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, url or self.url, **kwargs)
        received = self.sink.received
        if received:
            self.answers.append((response, received[-1]))
        return response

    def received_for(self, response: httpx.Response) -> Received:
        for answered, received in self.answers:
            if answered is response:
                return received
        raise AssertionError("no report for this response")


@contextmanager
def live_receiver(
    config: ReceiverConfig, drain_timeout: float = 5.0, server_stack: ServerStack | None = None
) -> Iterator[Live]:
    sink = Collector()
    with (
        run_in_thread(
            config, sink, drain_timeout=drain_timeout, server_stack=server_stack
        ) as running,
        httpx.Client(timeout=10.0, verify=TLS) as client,
    ):
        yield Live(running, sink, client)


# --------------------------------------------------------------------------- the local app


@dataclass(frozen=True)
class Hit:
    """One request the local app got."""

    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class AppBehaviour:
    status: int = 200
    reply: bytes = b"app ok"
    hang: bool = False  # never answer (until the test ends)
    delay: Callable[[int], float] = lambda _n: 0.0  # seconds before answering hit #n
    statuses: list[int] = field(default_factory=list)  # answered in turn before `status`
    barrier: threading.Barrier | None = None  # every request waits at it before answering


class LocalApp:
    """A small HTTP/1.1 app the receiver forwards to; records every request it gets."""

    def __init__(self, behaviour: AppBehaviour | None = None) -> None:
        self.behaviour = behaviour or AppBehaviour()
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with app.lock:
                    n = len(app.hits)
                    app.hits.append(Hit(self.path, list(self.headers.items()), body))
                    status = (
                        app.behaviour.statuses.pop(0)
                        if app.behaviour.statuses
                        else app.behaviour.status
                    )
                if app.behaviour.hang:
                    app.release.wait(30)
                    self.close_connection = True  # no answer: drop the connection
                    return
                if app.behaviour.barrier is not None:
                    app.behaviour.barrier.wait(10)
                pause = app.behaviour.delay(n)
                if pause:
                    app.release.wait(pause)  # a slow app, not synchronisation
                reply = app.behaviour.reply
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base_url + "/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [h.body for h in self.hits]

    def wait_hits(self, count: int, timeout: float = 5.0) -> list[Hit]:
        def enough() -> list[Hit] | None:
            with self.lock:
                return list(self.hits) if len(self.hits) >= count else None

        return wait_for(enough, timeout, f"{count} requests at the app")

    def __enter__(self) -> LocalApp:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def records_of(path: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in json_lines(path) if r["record"] == kind]


def headers_map(hit: Hit) -> Mapping[str, str]:
    return {k.lower(): v for k, v in hit.headers}


# --------------------------------------------------------------------------- a raw app


@dataclass(frozen=True)
class RawRequest:
    """One request as it arrived: the header lines' bytes, the body, the method and target."""

    headers: list[tuple[bytes, bytes]]
    body: bytes
    method: bytes = b""
    target: bytes = b""  # the request line's path and query, as sent

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class RawApp:
    """An HTTP/1.1 app on loopback that keeps every request's raw header bytes; answers the
    statuses in `statuses` in turn, then 200, or `reply` verbatim (any bytes, valid HTTP or
    not) when set; and closes each connection."""

    def __init__(self, statuses: Sequence[int] = ()) -> None:
        self.requests: list[RawRequest] = []
        self.statuses = list(statuses)
        self.reply: bytes | None = None
        self.lock = threading.Lock()
        app = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request_line = self.rfile.readline(65536).strip()
                if not request_line:
                    return
                method, _, rest = request_line.partition(b" ")
                headers: list[tuple[bytes, bytes]] = []
                while True:
                    line = self.rfile.readline(65536)
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.rstrip(b"\r\n").partition(b":")
                    headers.append((name, value.strip(b" \t")))
                length = int(dict((k.lower(), v) for k, v in headers).get(b"content-length", 0))
                body = self.rfile.read(length)
                with app.lock:
                    app.requests.append(RawRequest(headers, body, method, rest.rpartition(b" ")[0]))
                    status = app.statuses.pop(0) if app.statuses else 200
                    reply = app.reply
                if reply is None:
                    reply = b"HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    reply %= status
                self.wfile.write(reply)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base_url + "/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [r.body for r in self.requests]

    def wait(self, count: int = 1) -> list[RawRequest]:
        """The requests, once there are `count` of them."""
        return wait_for(
            lambda: self.requests if len(self.requests) >= count else None, 10, f"{count} requests"
        )

    def __enter__(self) -> RawApp:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
