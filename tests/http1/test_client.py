"""Http1Client against a scripted server: keep-alive, framing, closes, timeouts, limits, and
the hostile cases (huge or malformed answers, headers that try to inject). Every test runs
with both parsers: httptools and the pure-Python h11 fallback."""

from __future__ import annotations

import asyncio
import functools
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from apimw_cli.http1 import (
    ConnectFailed,
    Http1Client,
    Http1Error,
    Http1Response,
    ProtocolFailed,
    TimedOut,
)
from apimw_cli.http1.parsing import PARSERS
from tests.http1.server import Peer, keep_alive, read_request, reply, serving

HEADERS = [(b"Content-Type", b"application/json"), (b"X-Custom", b"kept")]


@pytest.fixture(params=sorted(PARSERS))
def parser(request: pytest.FixtureRequest) -> str:
    assert set(PARSERS) == {"httptools", "h11"}  # both are installed here: both are tested
    return str(request.param)


LOOP = "asyncio"  # set per test by the `loop` fixture


@pytest.fixture(params=["asyncio", "uvloop"], autouse=True)
def loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test on asyncio's loop and on uvloop's (the receiver's, where it is installed)."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setattr(sys.modules[__name__], "LOOP", request.param)


@pytest.fixture(params=["transport", "polled"], autouse=True)
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test on the loop's own transports and on polled.py's (the forwarder's, pollable)."""
    if request.param == "polled":
        polled = functools.partial(Http1Client, pollable=True)
        monkeypatch.setattr(sys.modules[__name__], "Http1Client", polled)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    if LOOP == "uvloop":
        import uvloop

        return uvloop.run(asyncio.wait_for(scenario(), 20))
    return asyncio.run(asyncio.wait_for(scenario(), 20))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_keep_alive_reuses_one_connection(parser: str) -> None:
    async def scenario() -> None:
        async with serving() as peer:
            client = Http1Client(parser=parser)
            for n in range(3):
                response = await client.post(peer.url, b'{"n": %d}' % n, HEADERS, 5)
                assert (response.status, response.body, response.truncated) == (200, b"ok", False)
                assert (b"Content-Length", b"2") in response.headers
            await client.aclose()
            assert peer.connections == 1
            first = peer.requests[0]
            assert first.startswith(b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % peer.port)
            assert b"\r\nContent-Length: 8\r\n" in first
            assert b"\r\nContent-Type: application/json\r\nX-Custom: kept\r\n\r\n" in first
            assert first.endswith(b'\r\n\r\n{"n": 0}')

    run(scenario)


def test_chunked_answer_then_reuse(parser: str) -> None:
    async def chunked(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while await read_request(reader, peer) is not None:
            writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in (b"5\r\nhello\r\n", b"6\r\n world\r\n", b"0\r\n\r\n"):
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)

    async def scenario() -> None:
        async with serving(chunked) as peer:
            client = Http1Client(parser=parser)
            for _ in range(2):
                response = await client.post(peer.url, b"x", [], 5)
                assert (response.status, response.body) == (201, b"hello world")
            assert peer.connections == 1
            await client.aclose()

    run(scenario)


def test_connection_close_is_honoured(parser: str) -> None:
    async def closing(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        await read_request(reader, peer)
        writer.write(reply(extra=b"Connection: close\r\n"))
        await writer.drain()
        await asyncio.sleep(0.2)  # keeps the socket open: the client must not wait for EOF

    async def scenario() -> None:
        async with serving(closing) as peer:
            client = Http1Client(parser=parser)
            for _ in range(3):
                assert (await client.post(peer.url, b"x", [], 5)).status == 200
            assert peer.connections == 3
            await client.aclose()

    run(scenario)


def test_http_1_0_body_until_close(parser: str) -> None:
    async def old(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        await read_request(reader, peer)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"it")
        writer.close()

    async def scenario() -> None:
        async with serving(old) as peer:
            client = Http1Client(parser=parser)
            response = await client.post(peer.url, b"x", [], 5)
            assert (response.status, response.body) == (200, b"all of it")
            assert (await client.post(peer.url, b"x", [], 5)).body == b"all of it"
            assert peer.connections == 2

    run(scenario)


def test_interim_100_continue_is_skipped(parser: str) -> None:
    async def interim(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while await read_request(reader, peer) is not None:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + reply(202, b"later"))

    async def scenario() -> None:
        async with serving(interim) as peer:
            client = Http1Client(parser=parser)
            for _ in range(2):
                response = await client.post(peer.url, b"x", [], 5)
                assert (response.status, response.body) == (202, b"later")
            assert peer.connections == 1

    run(scenario)


async def answers_once_then_hangs_up(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
) -> None:
    """An app that answers one request, reads the next and closes without a byte of answer."""
    await read_request(reader, peer)
    writer.write(reply())
    await writer.drain()
    await read_request(reader, peer)


def test_idle_connection_dropped_by_the_app_is_retried_once(parser: str) -> None:
    # The race: the app closes a kept-alive connection just as the next request goes out on it
    # (here it reads the second request and hangs up without a byte). One fresh retry.
    async def scenario() -> None:
        async with serving(answers_once_then_hangs_up) as peer:
            client = Http1Client(parser=parser)
            assert (await client.post(peer.url, b"1", [], 5)).status == 200
            assert (await client.post(peer.url, b"2", [], 5)).status == 200
            assert peer.connections == 2
            assert [r[-1:] for r in peer.requests] == [b"1", b"2", b"2"]

    run(scenario)


def test_idle_connection_closed_before_reuse_is_not_used(parser: str) -> None:
    async def close_after_one(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        await read_request(reader, peer)
        writer.write(reply())
        await writer.drain()

    async def scenario() -> None:
        async with serving(close_after_one) as peer:
            client = Http1Client(parser=parser)
            assert (await client.post(peer.url, b"1", [], 5)).status == 200
            await asyncio.sleep(0.1)  # the client sees the EOF while the connection is idle
            assert (await client.post(peer.url, b"2", [], 5)).status == 200
            assert len(peer.requests) == 2 and peer.connections == 2

    run(scenario)


def test_no_retry_on_a_fresh_connection_or_after_part_of_an_answer(parser: str) -> None:
    async def hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        await read_request(reader, peer)

    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        await read_request(reader, peer)
        writer.write(reply())
        await read_request(reader, peer)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal")

    async def scenario() -> None:
        client = Http1Client(parser=parser)
        async with serving(hang_up) as peer:
            with pytest.raises(ProtocolFailed, match="closed the connection without answering"):
                await client.post(peer.url, b"x", [], 5)
            assert len(peer.requests) == 1
        async with serving(half) as peer:
            await client.post(peer.url, b"x", [], 5)
            with pytest.raises(ProtocolFailed, match="before its answer was complete"):
                await client.post(peer.url, b"y", [], 5)
            assert len(peer.requests) == 2

    run(scenario)


def test_timeout_fires_and_the_connection_is_not_reused(parser: str) -> None:
    async def first_hangs(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        if peer.connections == 1:
            await read_request(reader, peer)
            await asyncio.sleep(5)
        else:
            await keep_alive(reader, writer, peer)

    async def scenario() -> None:
        async with serving(first_hangs) as peer:
            client = Http1Client(parser=parser)
            # The client measures on time.monotonic: uvloop's loop.time() is the time its
            # current pass began, which can make a timeout that fired on time look early.
            started = time.monotonic()
            with pytest.raises(TimedOut, match=r"^timed out after 0\.2s$"):
                await client.post(peer.url, b"x", [], 0.2)
            assert time.monotonic() - started >= 0.2  # not early
            assert (await client.post(peer.url, b"x", [], 5)).status == 200
            assert peer.connections == 2

    run(scenario)


def test_timeout_covers_waiting_for_a_connection(parser: str) -> None:
    release = asyncio.Event

    async def scenario() -> None:
        go = release()

        async def held(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
        ) -> None:
            await read_request(reader, peer)
            await go.wait()
            writer.write(reply())
            await writer.drain()

        async with serving(held) as peer:
            client = Http1Client(max_connections_per_origin=1, parser=parser)
            first = asyncio.ensure_future(client.post(peer.url, b"1", [], 5))
            await asyncio.sleep(0.05)
            with pytest.raises(TimedOut):
                await client.post(peer.url, b"2", [], 0.1)
            go.set()
            assert (await first).status == 200
            assert peer.connections == 1

    run(scenario)


def test_concurrency_is_limited_per_origin(parser: str) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        while await read_request(reader, peer) is not None:
            await asyncio.sleep(0.02)
            writer.write(reply())

    async def scenario() -> None:
        async with serving(slow) as peer:
            client = Http1Client(max_connections_per_origin=2, parser=parser)
            posts = [client.post(peer.url, b"%d" % n, [], 10) for n in range(9)]
            responses = await asyncio.gather(*posts)
            assert [r.status for r in responses] == [200] * 9
            assert peer.connections == 2 and peer.most_open == 2
            assert sorted(r[-1:] for r in peer.requests) == [b"%d" % n for n in range(9)]

    run(scenario)


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_huge_answer_is_cut_at_the_cap(parser: str, framing: str) -> None:
    huge = b"z" * (8 * 1024 * 1024)

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        while await read_request(reader, peer) is not None:
            if framing == "length":
                writer.write(reply(body=huge))
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(huge), huge))
            await writer.drain()

    async def scenario() -> None:
        async with serving(flood) as peer:
            client = Http1Client(max_response_body=1000, parser=parser)
            for _ in range(2):
                response = await client.post(peer.url, b"x", [], 10)
                assert (response.status, response.body, response.truncated) == (
                    200,
                    b"z" * 1000,
                    True,
                )
            assert peer.connections == 2  # cut short: closed, not drained

    run(scenario)


@pytest.mark.parametrize(
    "answer",
    [
        b"HELLO\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"\x00\xff\xfe" * 100,
    ],
)
def test_a_malformed_answer_is_a_protocol_error(parser: str, answer: bytes) -> None:
    async def garbage(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        await read_request(reader, peer)
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(0.2)

    async def scenario() -> None:
        async with serving(garbage) as peer:
            client = Http1Client(parser=parser)
            with pytest.raises(ProtocolFailed, match=r"malformed answer|before its answer"):
                await client.post(peer.url, b"x", [], 5)

    run(scenario)


def test_refused_port_and_bad_urls(parser: str) -> None:
    async def scenario() -> None:
        client = Http1Client(parser=parser)
        with pytest.raises(ConnectFailed, match=r"^connection refused$"):
            await client.post(f"http://127.0.0.1:{free_port()}/", b"x", [], 5)
        for url in ("https://127.0.0.1/", "ftp://x/", "http:///nohost", "http://h:99999/"):
            with pytest.raises(ProtocolFailed):
                await client.post(url, b"x", [], 5)

    run(scenario)


def test_the_path_is_percent_encoded(parser: str) -> None:
    async def scenario() -> None:
        async with serving() as peer:
            client = Http1Client(parser=parser)
            url = f"http://127.0.0.1:{peer.port}/a b/é?x=1\r\nX-Evil: 1"
            assert (await client.post(url, b"", [], 5)).status == 200
            line = peer.requests[0].split(b"\r\n")[0]  # (urlsplit drops CR and LF itself)
            assert line == b"POST /a%20b/%C3%A9?x=1X-Evil:%201 HTTP/1.1"

    run(scenario)


@pytest.mark.parametrize(
    "header",
    [
        (b"X-Evil", b"1\r\nX-Injected: yes"),
        (b"X-Evil", b"1\nX-Injected: yes"),
        (b"X-Evil", b"1\r"),
        (b"X-Evil", b"a\x00b"),
        (b"X-Evil\r\nX-Injected", b"yes"),
        (b"X Evil", b"1"),
        (b"X-Evil:", b"1"),
        (b"", b"1"),
    ],
)
def test_hostile_headers_are_refused_before_anything_is_sent(
    parser: str, header: tuple[bytes, bytes]
) -> None:
    async def scenario() -> None:
        async with serving() as peer:
            client = Http1Client(parser=parser)
            with pytest.raises(ProtocolFailed, match="refused"):
                await client.post(peer.url, b"x", [header], 5)
            assert peer.connections == 0

    run(scenario)


def test_framing_headers_from_the_caller_are_dropped(parser: str) -> None:
    async def scenario() -> None:
        async with serving() as peer:
            client = Http1Client(parser=parser)
            sneaky = [
                (b"Host", b"evil"),
                (b"content-length", b"0"),
                (b"Transfer-Encoding", b"chunked"),
                (b"X-Kept", b"1"),
            ]
            assert (await client.post(peer.url, b"body", sneaky, 5)).status == 200
            head = peer.requests[0].lower()
            assert head.count(b"host:") == 1 and b"evil" not in head
            assert head.count(b"content-length:") == 1 and b"content-length: 4" in head
            assert b"transfer-encoding" not in head and b"x-kept: 1" in head

    run(scenario)


def test_cancelling_a_post_frees_its_connection(parser: str) -> None:
    async def scenario() -> None:
        async def hang_first(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
        ) -> None:
            if peer.connections == 1:
                await read_request(reader, peer)
                await asyncio.sleep(5)
            await keep_alive(reader, writer, peer)

        async with serving(hang_first) as peer:
            client = Http1Client(max_connections_per_origin=1, parser=parser)
            task = asyncio.ensure_future(client.post(peer.url, b"x", [], 10))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await client.post(peer.url, b"y", [], 5)).status == 200
            assert peer.connections == 2

    run(scenario)


def test_unsolicited_bytes_on_an_idle_connection_retire_it(parser: str) -> None:
    async def chatty(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while await read_request(reader, peer) is not None:
            writer.write(reply() + b"HTTP/1.1 200 OK\r\n")  # trailing junk after the answer
            await writer.drain()

    async def scenario() -> None:
        async with serving(chatty) as peer:
            client = Http1Client(parser=parser)
            for _ in range(2):
                assert (await client.post(peer.url, b"x", [], 5)).body == b"ok"
            assert peer.connections == 2

    run(scenario)


def test_aclose_closes_idle_connections_and_refuses_more(parser: str) -> None:
    async def scenario() -> None:
        async with serving() as peer:
            client = Http1Client(parser=parser)
            await client.post(peer.url, b"x", [], 5)
            await client.aclose()
            for _ in range(50):
                if peer.open_now == 0:
                    break
                await asyncio.sleep(0.01)
            assert peer.open_now == 0
            with pytest.raises(Http1Error):
                await client.post(peer.url, b"x", [], 5)

    run(scenario)


# --- start(): the callback form the forwarder's lanes use ------------------------------------


class Outcomes:
    """Collects `start` outcomes; `called_inside` catches a callback made from within start."""

    def __init__(self) -> None:
        self.results: list[Http1Response | Http1Error] = []
        self.inside = False
        self.called_inside = False
        self.arrived = asyncio.Event()

    def __call__(self, result: Http1Response | Http1Error) -> None:
        self.called_inside |= self.inside
        self.results.append(result)
        self.arrived.set()

    def start(self, client: Http1Client, url: str, body: bytes = b"x", timeout: float = 5) -> None:
        self.inside = True
        client.start(url, body, HEADERS, timeout, self)
        self.inside = False

    async def next(self) -> Http1Response | Http1Error:
        await self.arrived.wait()
        self.arrived.clear()
        return self.results[-1]


def test_start_chains_requests_from_its_callback_on_one_connection(parser: str) -> None:
    async def scenario() -> None:
        async with serving() as peer:
            client = Http1Client(parser=parser)
            finished = asyncio.Event()
            statuses: list[int] = []

            def chain(result: Http1Response | Http1Error) -> None:
                assert isinstance(result, Http1Response)
                statuses.append(result.status)
                if len(statuses) < 5:  # the next request, from inside the answer's callback
                    client.start(peer.url, b"%d" % len(statuses), [], 5, chain)
                else:
                    finished.set()

            client.start(peer.url, b"0", [], 5, chain)
            await finished.wait()
            assert statuses == [200] * 5
            assert peer.connections == 1
            assert [r[-1:] for r in peer.requests] == [b"0", b"1", b"2", b"3", b"4"]
            await client.aclose()

    run(scenario)


def test_start_reports_failures_through_the_callback_never_inside(parser: str) -> None:
    async def scenario() -> None:
        client = Http1Client(parser=parser)
        outcomes = Outcomes()
        outcomes.start(client, f"http://127.0.0.1:{free_port()}/")
        assert isinstance(await outcomes.next(), ConnectFailed)
        outcomes.start(client, "https://example.com/")
        assert isinstance(await outcomes.next(), ProtocolFailed)
        async with serving() as peer:
            outcomes.start(client, peer.url)
            assert isinstance(await outcomes.next(), Http1Response)  # opens a connection
            client.start(peer.url, b"x", [(b"X-Evil", b"1\r\nX-Injected: 1")], 5, outcomes)
            assert isinstance(await outcomes.next(), ProtocolFailed)
            outcomes.start(client, peer.url)  # on the kept-alive connection
            assert isinstance(await outcomes.next(), Http1Response)
            assert len(peer.requests) == 2
        assert not outcomes.called_inside

    run(scenario)


def test_start_retries_once_when_the_idle_connection_was_dropped(parser: str) -> None:
    async def scenario() -> None:
        async with serving(answers_once_then_hangs_up) as peer:
            client = Http1Client(parser=parser)
            outcomes = Outcomes()
            for _ in range(2):
                outcomes.start(client, peer.url)
                result = await outcomes.next()
                assert isinstance(result, Http1Response) and result.status == 200
            assert peer.connections == 2 and len(peer.requests) == 3

    run(scenario)


def test_start_times_out_on_a_reused_connection(parser: str) -> None:
    async def second_hangs(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        await read_request(reader, peer)
        writer.write(reply())
        await read_request(reader, peer)
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with serving(second_hangs) as peer:
            client = Http1Client(parser=parser)
            outcomes = Outcomes()
            outcomes.start(client, peer.url, timeout=5)
            assert isinstance(await outcomes.next(), Http1Response)
            loop = asyncio.get_running_loop()
            started = loop.time()
            outcomes.start(client, peer.url, timeout=0.2)  # a shorter deadline than the first
            result = await outcomes.next()
            assert isinstance(result, TimedOut) and str(result) == "timed out after 0.2s"
            assert loop.time() - started < 4  # the first request's 5 s did not hold it back

    run(scenario)


def test_aclose_fails_requests_in_flight(parser: str) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        await read_request(reader, peer)
        await reader.read()  # until the client goes

    async def scenario() -> None:
        async with serving(hang) as peer:
            client = Http1Client(parser=parser)
            outcomes = Outcomes()
            outcomes.start(client, peer.url)  # opens a connection: in a task
            while not peer.requests:
                await asyncio.sleep(0.01)
            await client.aclose()
            result = await outcomes.next()
            assert isinstance(result, ProtocolFailed), result
            assert str(result) == "not answered: the client was closed"
            for _ in range(100):  # the app sees the connection go (its side, a pass later)
                if peer.open_now == 0:
                    break
                await asyncio.sleep(0.01)
            assert peer.open_now == 0
            outcomes.start(client, peer.url)
            assert isinstance(await outcomes.next(), ProtocolFailed)

    run(scenario)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * (1024 * 1024) + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 20_000 + b"\r\n",
    ],
    ids=["one-huge-header", "many-headers"],
)
def test_headers_past_64_kb_are_refused(parser: str, head: bytes) -> None:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        await read_request(reader, peer)
        writer.write(head)
        await writer.drain()
        await asyncio.sleep(0.5)

    async def scenario() -> None:
        async with serving(flood) as peer:
            client = Http1Client(parser=parser)
            with pytest.raises(ProtocolFailed, match="malformed answer"):
                await client.post(peer.url, b"x", [], 5)

    run(scenario)
