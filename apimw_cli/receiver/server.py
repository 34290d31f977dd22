"""Runs the receiver with uvicorn in a background thread, on a socket we bind ourselves.

uvicorn's Server keeps the sockets, the lifespan and the graceful shutdown; the HTTP protocol is
our own on httptools (fast_protocol.py), uvicorn's guarded h11 one on the pure-Python stack.

`run_in_thread` owns everything the receiver needs: it opens the recorder (`config.record`),
creates the forwarder (`config.forward_to`), serves until the `with` block ends, then stops
accepting, lets in-flight requests finish, drains forwards (bounded) and closes the recorder.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn

from apimw_cli.output.logs import note_server_logs
from apimw_cli.receiver.app import ReceiverApp, create_app
from apimw_cli.receiver.events import ReceiverConfig, Sink
from apimw_cli.receiver.guard import (
    ACCEPT_BATCH,
    connection_cap,
    guarded_protocol,
    raise_fd_limit,
)
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.server_stack import ServerStack, detect
from apimw_cli.sockets import bind, local_url

if TYPE_CHECKING:  # httpx is imported only when there is something to forward
    from apimw_cli.receiver.forwarder import Forwarder

__all__ = ["RunningReceiver", "bind", "local_url", "run_in_thread"]

LISTEN_QUEUE = 2048  # as sockets.bind
GRACEFUL_SHUTDOWN = 3.0  # seconds for in-flight requests (passthrough, --delay) once stopping


@dataclass(frozen=True)
class RunningReceiver:
    url: str  # e.g. http://127.0.0.1:4242 (loopback when bound to a wildcard address)
    port: int
    config: ReceiverConfig
    server_stack: ServerStack  # the event loop and HTTP parser it runs on
    recorder: Recorder | None = None
    forwarder: Forwarder | None = None

    def pending_forwards(self) -> int:
        """Events waiting to be forwarded (queued or in flight)."""
        return self.forwarder.pending if self.forwarder is not None else 0

    def abandon_forwards(self) -> None:
        """Stop without waiting for pending forwards (each is still reported as not sent)."""
        if self.forwarder is not None:
            self.forwarder.abandoned = True

    @property
    def endpoint(self) -> str:
        """The URL to deliver to: `url` plus `config.path` (or `/`)."""
        return self.url + (self.config.path or "/")


def _protocol(app: ReceiverApp, stack: ServerStack) -> type[asyncio.Protocol]:
    """Our own protocol on httptools (fast_protocol.py); uvicorn's h11 one, guarded, else."""
    config = app.config
    cap = connection_cap(config.max_connections, raise_fd_limit())
    if stack.http == "httptools":
        from apimw_cli.receiver.fast_protocol import fast_protocol

        return fast_protocol(app, config.read_timeout, cap)
    return guarded_protocol(config.read_timeout, cap, stack.http)


def _server(app: ReceiverApp, stack: ServerStack) -> uvicorn.Server:
    note_server_logs()
    return uvicorn.Server(
        uvicorn.Config(
            app,
            loop=stack.loop,
            # Bounds slow and idle clients and the number of connections (see guard.py).
            http=_protocol(app, stack),
            # Idle keep-alive connections are closed after 5 s (the guard's read_timeout
            # takes over once a byte arrives: any byte cancels uvicorn's timer).
            timeout_keep_alive=5,
            # Also the listen queue, restored by run_in_thread once uvicorn has listened.
            backlog=ACCEPT_BATCH,
            log_level="warning",
            # Our own handler (output/logs.py) masks and escapes what uvicorn logs.
            log_config=None,
            access_log=False,
            lifespan="on",
            ws="none",  # an Upgrade request is just a request: 405 unless it is a POST
            # The receiver never looks at the client address: skip uvicorn's middleware that
            # rewrites it from X-Forwarded-* on every request (loopback is trusted by default).
            proxy_headers=False,
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN),
            server_header=False,
        )
    )


@contextmanager
def run_in_thread(
    config: ReceiverConfig,
    sink: Sink,
    *,
    startup_timeout: float = 20.0,
    drain_timeout: float = 5.0,
    server_stack: ServerStack | None = None,
) -> Iterator[RunningReceiver]:
    """Serve `config` in a background thread until the block ends; see the module docstring.

    `sink` gets every `Received` and `Forwarded`, called on the server's thread: it must be
    thread-safe and must not block. `server_stack` defaults to `server_stack.detect()`. Raises
    OSError when the port cannot be bound or the record file cannot be opened,
    RuntimeError/TimeoutError when the server does not start, ConfigError for a bad
    APIMW_SERVER_STACK.
    """
    server_stack = detect() if server_stack is None else server_stack
    with ExitStack() as stack:
        sock = bind(config.host, config.port)
        stack.callback(sock.close)
        port = sock.getsockname()[1]
        recorder = None
        if config.record is not None:
            recorder = Recorder(config.record)
            stack.callback(recorder.close)  # runs after the server thread has stopped
        forwarder = None
        if config.forward_to:
            from apimw_cli.receiver.forwarder import Forwarder  # httpx: only when forwarding

            forwarder = Forwarder(
                config.forward_to, config.forward_timeout, config.concurrency, sink, recorder
            )
        app = create_app(config, sink, recorder, forwarder, drain_timeout=drain_timeout)
        server = _server(app, server_stack)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="apimw-receiver", daemon=True
        )
        thread.start()

        def stop() -> None:
            server.should_exit = True
            thread.join(GRACEFUL_SHUTDOWN + drain_timeout + 10)

        stack.callback(stop)
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the receiver failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("the receiver did not start in time")
            time.sleep(0.005)
        sock.listen(LISTEN_QUEUE)  # uvicorn set it to ACCEPT_BATCH, see _server
        yield RunningReceiver(
            local_url(config.host, port), port, config, server_stack, recorder, forwarder
        )
