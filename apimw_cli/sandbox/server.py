"""Runs the sandbox with uvicorn: in the foreground (`apimw sandbox`) or in a thread (tests)."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from apimw_cli.output.logs import note_server_logs
from apimw_cli.sandbox.app import create_app
from apimw_cli.sandbox.config import SandboxConfig
from apimw_cli.server_stack import detect
from apimw_cli.sockets import bind, local_url

__all__ = ["RunningSandbox", "SandboxConfig", "bind", "run", "run_in_thread"]


@dataclass(frozen=True)
class RunningSandbox:
    base_url: str
    port: int
    config: SandboxConfig


def base_url(host: str, port: int) -> str:
    """The sandbox's API base URL, as clients on this machine reach it."""
    return local_url(host, port) + "/v1"


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGINT/SIGTERM after its graceful shutdown.

    uvicorn re-raises the captured signal once it has stopped, which would turn a clean stop into
    a KeyboardInterrupt or a death by SIGTERM; we report the stop and exit 0 instead.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @property
    def stop_signal(self) -> str | None:
        captured = getattr(self, "_captured_signals", [])
        return signal.Signals(captured[0]).name if captured else None


HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005


def _server(config: SandboxConfig) -> _Server:
    """uvicorn on the fastest stack installed (uvloop + httptools where they import), which the
    delivery worker's loop uses too. A bad APIMW_SERVER_STACK raises ConfigError here, before
    anything listens."""
    stack = detect()
    note_server_logs()
    return _Server(
        uvicorn.Config(
            create_app(config, loop=stack.loop),
            loop=stack.loop,
            http=stack.http,
            log_level="warning",
            # Our own handler (output/logs.py) masks and escapes what uvicorn logs.
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=3,
            # the sandbox answers its own errors; uvicorn must not add a Server header we'd miss
            server_header=False,
        )
    )


def run(config: SandboxConfig, sock: socket.socket) -> str | None:
    """Serve until SIGINT/SIGTERM, then shut down gracefully; returns the signal's name."""
    # The API's loop and the delivery thread share the GIL. With CPython's default 5 ms switch
    # interval, each time the API thread wakes from epoll it may wait 5 ms for the GIL while
    # deliveries run; a request needs several wake-ups. A shorter interval keeps requests fast.
    sys.setswitchinterval(SWITCH_INTERVAL)
    server = _server(config)
    server.run(sockets=[sock])
    return server.stop_signal


@contextmanager
def run_in_thread(
    config: SandboxConfig, *, startup_timeout: float = 20.0
) -> Iterator[RunningSandbox]:
    """Start the sandbox in a background thread; stop it, whatever happens, on exit."""
    server = _server(config)  # first: a bad APIMW_SERVER_STACK leaves nothing open
    sock = bind(config.host, config.port)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("the sandbox failed to start")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise TimeoutError("the sandbox did not start in time")
        time.sleep(0.01)
    try:
        yield RunningSandbox(base_url(config.host, port), port, config)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
