"""Serves the inspector on loopback with uvicorn, in a daemon thread of the calling process.

Not a hot path: plain asyncio and h11, whatever stack the receiver runs on. Nothing of it
reaches the terminal, which belongs to listen's live view: uvicorn's own logs are off
(log_config=None, no access log) and whatever it or asyncio logs from the inspector's thread is
dropped (a browser that hangs up mid-answer is no news to the user); the app answers its own
failures (web.py).

Stopping ends the open event streams at once, gives other requests a moment, and never waits
for a replay still in flight (it runs on a daemon thread and finishes, or not, on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette

from apimw_cli.errors import ApimwError
from apimw_cli.inspector.actions import Actions
from apimw_cli.inspector.logindex import LogIndex
from apimw_cli.inspector.security import allowed_hosts
from apimw_cli.inspector.stream import Streams
from apimw_cli.inspector.threads import SerialThread
from apimw_cli.inspector.web import build_app
from apimw_cli.protocol import is_loopback
from apimw_cli.sockets import bind, local_url

__all__ = ["DEFAULT_PORT", "InspectorPortBusy", "RunningInspector", "start"]

DEFAULT_PORT = 4040
LAST_DEFAULT_PORT = 4059  # past this, any free port
THREAD_NAME = "apimw-inspector"
GRACEFUL_SHUTDOWN = 1  # seconds for requests still being answered once stopping
_QUIETED = ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio")


class InspectorPortBusy(ApimwError):
    """The inspector port asked for (--inspect-port, --port) is taken: exit 1, as a busy
    receiver --port is (the machine's state, not a mistake in the command line)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"the inspector cannot listen on {host}:{port}: the port is in use",
            hint="pick another with --inspect-port (0: any free port), "
            "or turn the inspector off with --no-inspect",
        )
        self.port = port


class _FromInspectorThread(logging.Filter):
    """Drops the log records made on the inspector's thread (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(THREAD_NAME)


_QUIET = _FromInspectorThread()


class _Server(uvicorn.Server):
    """uvicorn, idle while nothing happens, and ending the event streams as it starts shutting
    down (it would otherwise wait for them, the graceful timeout long, then cancel them)."""

    def __init__(self, config: uvicorn.Config, streams: Streams) -> None:
        super().__init__(config)
        self.streams = streams
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None

    async def main_loop(self) -> None:
        """Sleeps until `exit_now`. uvicorn's own wakes ten times a second to look at
        `should_exit` and refresh its Date header; with no Date header, no request limit and
        no notify callback that is polling for nothing, while no page may be open for hours."""
        self._woken = asyncio.Event()
        self._loop = asyncio.get_running_loop()  # set before should_exit is read: see exit_now
        await self.on_tick(0)  # the default headers, once
        while not self.should_exit:
            await self._woken.wait()
            self._woken.clear()

    def exit_now(self) -> None:
        """Make the server stop (from any thread)."""
        self.should_exit = True  # set before the loop is read: see main_loop
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: it has stopped
                loop.call_soon_threadsafe(woken.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.streams.close()
        await super().shutdown(sockets)


@dataclass
class RunningInspector:
    """The inspector serving in its thread. `url` is what to open (`http://127.0.0.1:PORT/`)."""

    url: str
    port: int
    token: str
    _server: _Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _worker: SerialThread = field(repr=False)
    _socket: socket.socket = field(repr=False)

    @property
    def open_streams(self) -> int:
        """How many pages are connected to the event stream now."""
        return self._server.streams.open

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; returns once the server's thread has ended (or `timeout` passed).
        Idempotent."""
        self._server.exit_now()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._worker.close()
        self._socket.close()

    def __enter__(self) -> RunningInspector:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _bind(host: str, port: int | None) -> socket.socket:
    """The listening socket: `port` (0: any free one), or for None the first free one of
    4040..4059, else any free one. A taken explicit port raises InspectorPortBusy."""
    if port is not None:
        try:
            return bind(host, port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InspectorPortBusy(host, port) from exc
            raise
    for candidate in range(DEFAULT_PORT, LAST_DEFAULT_PORT + 1):
        try:
            return bind(host, candidate)
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
    return bind(host, 0)


def _quiet_logs() -> None:
    for name in _QUIETED:
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)


def _app(
    index: LogIndex, actions: Actions, info: dict[str, Any], port: int
) -> tuple[Starlette, str]:
    """The app for a server on `port`, and its per-run token."""
    token = secrets.token_urlsafe(32)
    app = build_app(index, actions, token=token, allowed_hosts=allowed_hosts(port), info=info)
    return app, token


def _prepared(sock: socket.socket, built: tuple[Starlette, str], host: str) -> RunningInspector:
    """The server over `built` on `sock`, in a thread not yet started."""
    app, token = built
    server = _Server(
        uvicorn.Config(
            app,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        ),
        app.state.streams,
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=THREAD_NAME, daemon=True
    )
    port = sock.getsockname()[1]
    url = local_url(host, port) + "/"
    return RunningInspector(url, port, token, server, thread, app.state.worker, sock)


def start(
    index: LogIndex,
    actions: Actions,
    info: dict[str, Any],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    startup_timeout: float = 20.0,
) -> RunningInspector:
    """Serve the inspector over `index` on `host` (loopback only) and return once it answers.

    Raises InspectorPortBusy for an explicit `port` that is taken, OSError when no socket can
    be had, ValueError for a host that is not loopback, RuntimeError/TimeoutError when the
    server does not start.
    """
    if not is_loopback(host):
        raise ValueError(f"the inspector serves on loopback only, not on {host!r}")
    sock = _bind(host, port)
    try:
        running = _prepared(sock, _app(index, actions, info, sock.getsockname()[1]), host)
    except BaseException:
        sock.close()
        raise
    _quiet_logs()
    thread = running._thread
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not running._server.started:
        if not thread.is_alive():
            running.stop()
            raise RuntimeError("the inspector failed to start")
        if time.monotonic() > deadline:
            running.stop()
            raise TimeoutError("the inspector did not start in time")
        time.sleep(0.005)
    return running
