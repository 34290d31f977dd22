"""HTTP/1.1 details the receiver keeps on every stack (our own protocol on httptools,
fast_protocol.py; uvicorn's on h11): pipelining in order around a request that waits,
Expect: 100-continue, chunked bodies, 413 on a kept-alive connection, 431, malformed requests,
HTTP/1.0, Connection: close, Upgrade; and arbitrary bytes never stop it serving."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.receiver.fast_protocol import HEAD_LIMIT
from apimw_cli.server_stack import ServerStack
from tests.receiver.conftest import StartReceiver
from tests.receiver.support import (
    FAST_STACK,
    SECRET,
    STACKS,
    Live,
    event_body,
    every_server_stack,  # noqa: F401  (a fixture: every test here runs on both stacks)
    live_receiver,
)
from tests.receiver.test_slow_clients import (
    connection,
    head,
    is_closed,
    read_response,
    read_until_closed,
)
from tests.support.waiting import wait_for


def post(n: int, **extra: str) -> bytes:
    body = event_body(n=n)
    return head(body, None, **extra) + body


def statuses(sock: socket.socket, count: int) -> list[int]:
    """The statuses of the next `count` answers (read_response drops what follows its answer)."""
    data = b""
    found: list[int] = []
    while len(found) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {found}: {data!r}"
            data += chunk
            continue
        response_head = data[:head_end].lower()
        length = 0
        for line in response_head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip() == b"content-length":
                length = int(value)
        while len(data) < head_end + 4 + length:
            chunk = sock.recv(65536)
            assert chunk, "closed before the whole body"
            data += chunk
        found.append(int(response_head.split(b" ")[1]))
        data = data[head_end + 4 + length :]
    return found


def test_pipelined_requests_around_one_whose_body_trickles_are_answered_in_order(
    receiver: Live,
) -> None:
    first_body = event_body(n=1)
    with connection(receiver) as sock:
        sock.sendall(head(first_body) + first_body[:10])  # the first request waits for its body
        time.sleep(0.05)  # so the rest most likely comes in another read (correct either way)
        assert not is_closed(sock)
        sock.sendall(first_body[10:] + post(2) + post(3, **{"Content-Type": "text/plain"}))
        assert statuses(sock, 3) == [200, 200, 200]
    wait_for(lambda: len(receiver.sink.received) == 3, what="three reports")
    assert receiver.sink.received[0].body == first_body


def test_pipelined_requests_with_a_delay_are_answered_in_order(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(delay=0.05)
    with connection(live) as sock:
        sock.sendall(post(1) + b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n" + post(2))
        assert statuses(sock, 3) == [200, 405, 200]
    ids = [r.delivery_id or r.method for r in live.sink.received]
    assert ids[1] == "GET"


def test_expect_100_continue_is_answered_before_the_body_is_sent(receiver: Live) -> None:
    body = event_body(n=7)
    with connection(receiver) as sock:
        sock.sendall(head(body, Expect="100-continue"))
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(body)
        assert read_response(sock)[0] == 200


def test_expect_100_continue_on_a_refused_request_gets_the_refusal_only(receiver: Live) -> None:
    with connection(receiver) as sock:
        sock.sendall(
            b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        status, response_head = read_response(sock)
        assert status == 405 and b"100 Continue" not in response_head


def test_a_chunked_body_is_read_whole(receiver: Live) -> None:
    body = event_body(n=3)
    request = head(body).replace(
        f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked"
    )
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:9], body[9:]))
    with connection(receiver) as sock:
        sock.sendall(request + chunked + b"0\r\n\r\n")
        assert read_response(sock)[0] == 200
    assert receiver.sink.received[-1].body == body


def _chunked_head(body: bytes) -> bytes:
    length = f"Content-Length: {len(body)}".encode()
    return head(body).replace(length, b"Transfer-Encoding: chunked")


@pytest.mark.parametrize("later", [False, True], ids=["one-read", "bad-chunk-later"])
def test_a_malformed_chunk_gets_400_at_once_and_is_closed(receiver: Live, later: bool) -> None:
    """A body broken by a parse error can never be complete: 400 and close, at once, with the
    client still connected (it was held unanswered, in progress, so a connection cap could
    not evict it either: a few hundred such connections shut real deliveries out)."""
    body = event_body(n=31)
    first = _chunked_head(body) + b"%x\r\n%s\r\n" % (9, body[:9])
    with connection(receiver) as sock:
        sock.settimeout(3)  # the receiver's read timeout is 10 s: the answer must not wait for it
        if later:
            sock.sendall(first)
            time.sleep(0.2)  # the app is reading the body by now
            sock.sendall(b"zz\r\n")
        else:
            sock.sendall(first + b"zz\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 400 ")
    with connection(receiver) as sock:  # and it serves on
        sock.sendall(post(32))
        assert read_response(sock)[0] == 200
    assert [r.body for r in receiver.sink.received] == [event_body(n=32)]


def test_connections_that_sent_a_malformed_chunk_do_not_use_up_the_cap(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(max_connections=16)
    body = event_body(n=35)
    with contextlib.ExitStack() as stack:
        for _ in range(16):  # each left open, as a hostile client would
            sock = stack.enter_context(connection(live))
            sock.sendall(_chunked_head(body) + b"zz\r\n")
        with connection(live) as sock:
            sock.sendall(post(36))
            assert read_response(sock)[0] == 200


def test_an_answer_comes_before_the_400_for_a_malformed_chunk_pipelined_behind_it(
    receiver: Live,
) -> None:
    body = event_body(n=34)
    with connection(receiver) as sock:
        sock.settimeout(3)
        sock.sendall(post(33) + _chunked_head(body) + b"zz\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert b"HTTP/1.1 400 " in answer


def test_a_drained_413_keeps_the_connection_for_the_next_request(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(max_body=1000)
    big = b"x" * 5000
    with connection(live) as sock:
        sock.sendall(head(big) + big + post(4))
        assert statuses(sock, 2) == [413, 200]


def test_a_head_past_the_limit_gets_431_or_400_and_is_closed(
    receiver: Live, server_stack: ServerStack
) -> None:
    if server_stack.http == "h11":
        pytest.skip("uvicorn's h11 protocol resets the connection past h11's 16 KB instead")
    with connection(receiver) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\n")
        # Far past the limit: the receiver answers, then reads and drops the rest (a
        # lingering close), so the client's writes go through and the answer is not lost
        # to a reset.
        for _ in range(4 * HEAD_LIMIT // 1000):
            sock.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 400 ")), answer[:100]


def filled_head(size: int) -> bytes:
    """A whole request head (no body) of exactly `size` bytes, most of it one filler header."""
    start, end = b"POST / HTTP/1.1\r\nHost: h\r\nX-Filler: ", b"\r\nContent-Length: 0\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


@pytest.mark.parametrize("spread", [False, True], ids=["one read", "over several reads"])
def test_the_head_limit_is_exact_in_one_read_or_several(
    receiver: Live, server_stack: ServerStack, spread: bool
) -> None:
    """The fast stack measures a head once it is complete (not header by header): a head
    under the limit is served, one just past it gets 431, whether it came at once or not."""
    if server_stack.http == "h11":
        pytest.skip("uvicorn's h11 protocol has its own limit (h11's 16 KB)")
    cases = ((HEAD_LIMIT - 100, b"HTTP/1.1 405 "), (HEAD_LIMIT + 2000, b"HTTP/1.1 431 "))
    for size, expected in cases:
        request = filled_head(size).replace(b"POST", b"GET", 1)  # 405: served, no event needed
        with connection(receiver) as sock:
            if spread:
                for start in range(0, len(request), 7000):
                    sock.sendall(request[start : start + 7000])
                    time.sleep(0.01)
            else:
                sock.sendall(request)
            answer = (
                read_until_closed(sock) if expected.endswith(b"431 ") else read_response(sock)[1]
            )
        assert answer.startswith(expected), (size, answer[:80])


def test_a_malformed_request_gets_400_and_is_closed(
    receiver: Live, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), connection(receiver) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: nope\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 400 ")
    # Silent on both stacks (h11 logged "Invalid HTTP request received." for each: anyone
    # reaching the tunnel could fill the terminal with it).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


def test_an_answer_comes_before_the_400_for_garbage_pipelined_behind_it(receiver: Live) -> None:
    with connection(receiver) as sock:
        sock.sendall(post(5) + b"\x00\x01garbage\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert b"HTTP/1.1 400 " in answer


def test_http_1_0_is_answered_and_closed(receiver: Live) -> None:
    body = event_body(n=6)
    request = head(body).replace(b"HTTP/1.1", b"HTTP/1.0", 1) + body
    with connection(receiver) as sock:
        sock.sendall(request)
        assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")


def test_http_1_0_keep_alive_stays_open(receiver: Live, server_stack: ServerStack) -> None:
    if server_stack.http == "h11":
        pytest.skip("uvicorn's h11 protocol closes every HTTP/1.0 connection")
    body = event_body(n=8)
    request = head(body, Connection="keep-alive").replace(b"HTTP/1.1", b"HTTP/1.0", 1) + body
    with connection(receiver) as sock:
        sock.sendall(request)
        assert read_response(sock)[0] == 200
        sock.sendall(request)
        assert read_response(sock)[0] == 200  # the same delivery again: answered as before


def test_connection_close_is_answered_and_closed_and_what_follows_is_ignored(
    receiver: Live,
) -> None:
    with connection(receiver) as sock:
        sock.sendall(post(9, Connection="close") + post(10))
        answer = read_until_closed(sock)
    assert answer.count(b"HTTP/1.1 ") == 1 and answer.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in answer.lower()
    assert len(receiver.sink.received) == 1


def test_an_upgrade_request_is_answered_as_a_plain_request(receiver: Live) -> None:
    with connection(receiver) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        )
        assert read_response(sock)[0] == 405


def test_a_head_request_gets_no_body(receiver: Live) -> None:
    with connection(receiver) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert data.startswith(b"HTTP/1.1 405 ") and data.endswith(b"\r\n\r\n"), data
        sock.sendall(post(11))
        assert read_response(sock)[0] == 200  # nothing of the 405's body before it


def test_a_client_gone_while_its_request_waits_leaves_the_server_serving(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(delay=0.2)
    with connection(live) as sock:
        sock.sendall(post(12))
    with connection(live) as sock:
        sock.sendall(post(13))
        assert read_response(sock)[0] == 200


# --------------------------------------------------------------------------- hostile bytes


@pytest.fixture(scope="module", params=STACKS)
def shared_receiver(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    stack: ServerStack = request.param
    config = ReceiverConfig(
        port=0,
        secrets=(SECRET,),
        record=tmp_path_factory.mktemp("hostile") / "session.jsonl",
        read_timeout=0.5,
    )
    with live_receiver(config, server_stack=stack) as live:
        yield live


_TOKENS = st.sampled_from(
    [
        b"POST / HTTP/1.1\r\n",
        b"GET /x HTTP/1.0\r\n",
        b"Content-Length: 3\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Expect: 100-continue\r\n",
        b"Connection: close\r\n",
        b"Connection: Upgrade\r\nUpgrade: h2c\r\n",
        b"\r\n",
        b"3\r\nabc\r\n0\r\n\r\n",
        b"abc",
        b"\x00\xff\x1b[2J",
    ]
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_TOKENS, st.binary(max_size=40)), max_size=12))
def test_any_bytes_are_answered_or_closed_and_the_server_keeps_serving(
    shared_receiver: Live, parts: list[bytes]
) -> None:
    with connection(shared_receiver) as sock:
        sock.settimeout(3)
        try:
            sock.sendall(b"".join(parts))
            sock.shutdown(socket.SHUT_WR)  # then the server answers what it can and closes
            answer = read_until_closed(sock)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
    assert answer == b"" or answer.startswith(b"HTTP/1.1 "), answer[:80]
    with connection(shared_receiver) as sock:
        sock.sendall(post(int(time.monotonic_ns() % 1_000_000)))
        assert read_response(sock)[0] == 200


def test_the_fast_stack_runs_our_protocol(start_receiver: StartReceiver) -> None:
    from apimw_cli.receiver.app import create_app
    from apimw_cli.receiver.fast_protocol import FastProtocol
    from apimw_cli.receiver.server import _protocol

    app = create_app(ReceiverConfig(port=0), lambda _: None, None, None)
    assert issubclass(_protocol(app, FAST_STACK), FastProtocol)


def test_a_request_in_progress_when_the_server_stops_is_answered_then_closed(
    tmp_path: Path, server_stack: ServerStack
) -> None:
    config = ReceiverConfig(port=0, secrets=(SECRET,), record=tmp_path / "s.jsonl", delay=0.3)
    with live_receiver(config, server_stack=server_stack) as live:
        busy = socket.create_connection(("127.0.0.1", live.running.port), timeout=5)
        idle = socket.create_connection(("127.0.0.1", live.running.port), timeout=5)
        busy.sendall(post(14))
        wait_for(lambda: live.sink.received, what="the request to arrive")
    with busy, idle:  # the server has stopped: the answer came first
        assert read_until_closed(busy).startswith(b"HTTP/1.1 200 ")
        assert read_until_closed(idle) == b""


def test_a_body_still_arriving_when_the_server_stops_is_cut_off_with_a_plain_warning(
    tmp_path: Path, server_stack: ServerStack, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn logs the end of the grace period as an ERROR ("Cancel 1 running task(s),
    timeout graceful shutdown exceeded"); nothing failed, and the user is told so plainly."""
    config = ReceiverConfig(port=0, secrets=(SECRET,), record=tmp_path / "s.jsonl")
    body = event_body(n=37)
    with (
        caplog.at_level(logging.WARNING),
        contextlib.ExitStack() as client,
        live_receiver(config, server_stack=server_stack) as live,
    ):
        sock = client.enter_context(connection(live))  # closed after the receiver stops
        sock.sendall(head(body) + body[:10])  # and the rest never comes
        time.sleep(0.2)
    notes = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert notes == [("WARNING", "stopping: cut off 1 request still in progress")]


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (0, "stopping: closed the connections still open"),
        (2, "stopping: cut off 2 requests still in progress"),
    ],
)
def test_the_cut_off_note_says_how_many(count: int, said: str) -> None:
    from apimw_cli.output.logs import _CUT_OFF, ServerNotes

    record = logging.LogRecord("uvicorn.error", logging.ERROR, "", 0, _CUT_OFF, (count,), None)
    assert ServerNotes().filter(record)
    assert (record.levelname, record.getMessage()) == ("WARNING", said)
