"""Slow and idle clients: every request must arrive whole within read_timeout, and past
max_connections the longest idle connection makes way, so deliveries keep getting through.

Driven with raw sockets over loopback; read_timeout is small to keep the tests short.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from apimw_cli.receiver.guard import RESERVE, Pending, connection_cap, result_or_pending
from apimw_cli.server_stack import ENV_SERVER_STACK, ServerStack
from tests.receiver.conftest import StartReceiver
from tests.receiver.support import (
    SECRET,
    Live,
    event_body,
    every_server_stack,  # noqa: F401  (a fixture: every test here runs on both stacks)
    signed_headers,
)
from tests.support.waiting import wait_for

READ_TIMEOUT = 0.5
ROOT = Path(__file__).parents[2]


# --------------------------------------------------------------------------- raw HTTP


def head(body: bytes, declared: int | None = None, **extra: str) -> bytes:
    """A signed POST's request line and headers, Content-Length `declared` (default: the body's)."""
    headers = {
        "Host": "127.0.0.1",
        "Content-Length": str(len(body) if declared is None else declared),
        **signed_headers(body),
        **extra,
    }
    lines = ["POST / HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextmanager
def connection(live: Live) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", live.running.port), timeout=5) as sock:
        yield sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails (socket timeout) if it never does."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One response on a keep-alive connection: its status and its head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole response: {data!r}"
        data += chunk
    response_head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in response_head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed before the whole body"
        rest += chunk
    return int(response_head.split(b" ")[1]), response_head


def peek(sock: socket.socket) -> bytes | None:
    """What the server has sent, left unread: b"" once it closed, None while it is silent."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return b""
    finally:
        sock.settimeout(5)


def is_closed(sock: socket.socket) -> bool:
    return peek(sock) == b""


# --------------------------------------------------------------------------- read_timeout


def test_a_partial_request_line_then_silence_gets_408_and_is_closed(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(read_timeout=READ_TIMEOUT)
    with connection(live) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /hoo")
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"Connection: close" in answer
    assert elapsed >= READ_TIMEOUT * 0.8, elapsed  # not before its time (the socket's own
    # timeout bounds how long the test waits for the close)
    assert live.post(event_body()).status_code == 200


def test_a_connection_that_never_sends_anything_is_closed(start_receiver: StartReceiver) -> None:
    live = start_receiver(read_timeout=READ_TIMEOUT)
    with connection(live) as sock:
        started = time.monotonic()
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert answer == b""  # nothing was asked, so nothing is answered
    assert elapsed >= READ_TIMEOUT * 0.8, elapsed  # not before its time (the socket's own
    # timeout bounds how long the test waits for the close)


@pytest.mark.parametrize("sent", [b"{}", b""], ids=["two-bytes", "no-byte"])
def test_a_body_short_of_its_content_length_gets_408_reported_as_rejected(
    start_receiver: StartReceiver, sent: bytes
) -> None:
    live = start_receiver(read_timeout=READ_TIMEOUT)
    with connection(live) as sock:
        sock.sendall(head(sent, declared=5000) + sent)
        answer = read_until_closed(sock)  # answered, then closed
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in answer.lower()
    [received] = live.sink.wait_received(1)
    assert (received.status, received.kind) == (408, "rejected")
    assert received.note == "body not received whole within 0.5 s"
    assert live.post(event_body()).status_code == 200


def test_a_body_trickled_past_the_deadline_gets_408(start_receiver: StartReceiver) -> None:
    """The deadline covers the whole body, not each byte: a trickle cannot hold a connection."""
    live = start_receiver(read_timeout=READ_TIMEOUT)
    body = event_body()
    with connection(live) as sock:
        sock.sendall(head(body))
        deadline = time.monotonic() + READ_TIMEOUT * 4
        sent = 0
        while peek(sock) is None and sent < len(body) and time.monotonic() < deadline:
            sock.sendall(body[sent : sent + 1])
            sent += 1
            time.sleep(READ_TIMEOUT / 5)  # the slow client itself, not synchronisation
        assert time.monotonic() < deadline and sent < len(body)  # answered while trickling
        try:
            answer = read_until_closed(sock)
        except ConnectionResetError:  # a byte reached the closed socket: the reset can drop
            answer = b""  # the 408 before it is read; the report below still shows it
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer
    [received] = live.sink.wait_received(1)
    assert (received.status, received.kind) == (408, "rejected")


def test_a_slow_body_within_the_deadline_gets_200(start_receiver: StartReceiver) -> None:
    live = start_receiver(read_timeout=2.0)
    body = event_body()
    with connection(live) as sock:
        sock.sendall(head(body))
        time.sleep(0.2)  # the slow client itself, not synchronisation
        sock.sendall(body[:10])
        time.sleep(0.2)
        sock.sendall(body[10:])
        status, _ = read_response(sock)
    assert status == 200
    [received] = live.sink.wait_received(1)
    assert (received.kind, received.body) == ("event", body)


def test_a_keep_alive_connection_that_sends_one_byte_after_its_response_is_closed(
    start_receiver: StartReceiver,
) -> None:
    """uvicorn's keep-alive timer stops at the first byte; the guard's does not."""
    live = start_receiver(read_timeout=READ_TIMEOUT)
    body = event_body()
    with connection(live) as sock:
        sock.sendall(head(body) + body)
        status, response_head = read_response(sock)
        assert status == 200
        assert b"connection: close" not in response_head.lower()
        started = time.monotonic()
        sock.sendall(b"P")
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert elapsed >= READ_TIMEOUT * 0.8, elapsed  # the read timeout's 408, not an instant refusal


def test_keep_alive_requests_within_the_deadline_are_all_served(
    start_receiver: StartReceiver,
) -> None:
    """The timer set after a response is carried over, not misread as the next one's."""
    live = start_receiver(read_timeout=READ_TIMEOUT)
    with connection(live) as sock:
        for n in range(6):
            body = event_body(n=n)
            sock.sendall(head(body) + body)
            assert read_response(sock)[0] == 200
            time.sleep(READ_TIMEOUT / 3)  # a client pausing: past read_timeout in all
    assert len(live.sink.received) == 6


# --------------------------------------------------------------------------- max_connections


def test_past_max_connections_the_longest_idle_ones_are_closed_and_deliveries_get_200(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(max_connections=20)
    with ExitStack() as stack:
        idle = [stack.enter_context(connection(live)) for _ in range(30)]
        assert live.post(event_body()).status_code == 200
        # 31 connections for 20 places: the 11 that waited longest made way, in order.
        wait_for(lambda: all(is_closed(sock) for sock in idle[:11]), what="11 oldest closed")
        assert not any(is_closed(sock) for sock in idle[11:])


def test_a_connection_whose_request_is_in_progress_is_not_evicted(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(max_connections=20, delay=2.0)
    body = event_body()
    with connection(live) as busy, ExitStack() as stack:
        busy.sendall(head(body) + body)
        live.sink.wait_received(1)  # reported: now answering after the delay
        idle = [stack.enter_context(connection(live)) for _ in range(25)]
        # 26 for 20: six make way, all idle, although `busy` is the oldest.
        wait_for(lambda: all(is_closed(sock) for sock in idle[:6]), what="6 idle ones closed")
        assert not any(is_closed(sock) for sock in idle[6:])
        assert peek(busy) is None  # still in progress when the others made way
        assert read_response(busy)[0] == 200


def test_when_every_connection_is_busy_a_new_one_gets_503(start_receiver: StartReceiver) -> None:
    live = start_receiver(max_connections=2, delay=1.0)
    with connection(live) as first, connection(live) as second:
        for n, sock in enumerate((first, second)):
            body = event_body(n=n)
            sock.sendall(head(body) + body)
        live.sink.wait_received(2)
        with connection(live) as third:
            answer = read_until_closed(third)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert read_response(first)[0] == 200
        assert read_response(second)[0] == 200


def test_the_cap_leaves_descriptors_in_reserve() -> None:
    assert connection_cap(1000, 1024) == 1024 - RESERVE
    assert connection_cap(1000, 65536) == 1000
    assert connection_cap(20, 1024) == 20
    assert connection_cap(1000, 100) == 16  # a tiny limit still serves a few
    assert connection_cap(1000, None) == 1000  # unlimited


# ------------------------------------------------------------------ 1,100 idle connections

CHILD = """
import sys
from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.receiver.server import run_in_thread

config = ReceiverConfig(port=0, secrets=(sys.argv[1],))
with run_in_thread(config, lambda item: None) as running:
    print(running.port, flush=True)
    sys.stdin.read()  # until the test closes stdin
"""
CHILD_NOFILE = 1024


def _limit_nofile() -> None:  # in the child, before exec
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (CHILD_NOFILE, CHILD_NOFILE))


@contextmanager
def nofile_at_least(wanted: int) -> Iterator[None]:
    """This process's soft descriptor limit raised to `wanted` for the block; skips if the hard
    limit does not allow it."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the hard descriptor limit ({hard}) is under the {wanted} needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _port_of(child: subprocess.Popen[str], log: Path) -> int:
    assert child.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=20):
            raise AssertionError(f"the receiver did not start: {log.read_text()}")
    line = child.stdout.readline()
    assert line.strip().isdigit(), f"the receiver did not start: {line!r} {log.read_text()}"
    return int(line)


@pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_NOFILE on Windows")
@pytest.mark.parametrize("idle_count", [1100, 3000])
def test_idle_connections_past_ulimit_1024_do_not_keep_a_delivery_out(
    tmp_path: Path, idle_count: int, server_stack: ServerStack
) -> None:
    log = tmp_path / "receiver.log"
    env = dict(os.environ, **{ENV_SERVER_STACK: "pure" if server_stack.is_pure else "auto"})
    with (
        nofile_at_least(idle_count + 256),
        log.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-c", CHILD, SECRET],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            preexec_fn=_limit_nofile,
        ) as child,
        ExitStack() as clients,
    ):
        try:
            port = _port_of(child, log)
            idle = [
                clients.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
                for _ in range(idle_count)
            ]
            # The receiver has taken them all in once the ones past its cap were closed.
            cap = connection_cap(1000, CHILD_NOFILE)
            wait_for(
                lambda: sum(is_closed(sock) for sock in idle) >= idle_count - cap,
                timeout=20,
                what=f"{idle_count - cap} idle connections closed",
            )
            body = event_body()
            response = httpx.post(
                f"http://127.0.0.1:{port}/", content=body, headers=signed_headers(body), timeout=5
            )
            assert response.status_code == 200, log.read_text()
            # Never out of descriptors: asyncio would have stopped accepting for a second.
            assert "out of system resource" not in log.read_text()
        finally:
            clients.close()
            assert child.stdin is not None
            child.stdin.close()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


# --------------------------------------------------------------------------- the helper


def test_result_or_pending_resumes_and_passes_a_timeout_on() -> None:
    async def scenario() -> None:
        async def ready() -> int:
            return 1

        assert result_or_pending(ready()) == 1

        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()

        async def later() -> int:
            return await future + 1

        pending = result_or_pending(later())
        assert isinstance(pending, Pending)
        loop.call_soon(future.set_result, 1)
        assert await pending == 2

        cleaned: list[bool] = []

        async def never() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append(True)

        waiting = result_or_pending(never())
        assert isinstance(waiting, Pending)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await waiting
        assert cleaned == [True]

    asyncio.run(scenario())
