"""Http1Client.poll and the polled transport (http1/polled.py): an answer let in between two
passes of the loop, nothing lost or doubled when the poll and the loop's own read race for it,
a no-op when nothing is awaited, writes bigger than the socket takes at once. On asyncio's loop
and uvloop's, with both parsers (the fixtures of test_client.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from apimw_cli.http1 import Http1Client, Http1Error, Http1Response
from tests.http1 import test_client as base
from tests.http1.server import Peer, read_request, reply, serving

# test_client.py's fixtures: each test on both loops, with both parsers.
loop, parser, run = base.loop, base.parser, base.run

HEADERS = [(b"Content-Type", b"text/plain")]


@contextlib.contextmanager
def threaded_echo() -> Iterator[str]:
    """An app on its own thread (it answers while the test's loop is blocked): each request's
    body echoed back, on a keep-alive connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn, conn.makefile("rb") as stream:
                while head := stream.readline():
                    length = 0
                    while (line := stream.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    del head
                    conn.sendall(reply(body=stream.read(length)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        listener.close()
        thread.join(5)


def test_poll_lets_an_answer_in_between_two_passes_of_the_loop(parser: str) -> None:
    async def scenario() -> None:
        with threaded_echo() as url:
            client = Http1Client(parser=parser, pollable=True)
            await client.post(url, b"first", HEADERS, 5)  # opens the kept-alive connection
            got: list[Http1Response | Http1Error] = []
            client.start(url, b"second", HEADERS, 5, got.append)
            assert len(client.outstanding) == 1
            # Never yielding to the loop: only the poll can let the answer in.
            for _ in range(5000):
                client.poll()
                if got:
                    break
                time.sleep(0.001)  # the app's thread answers meanwhile
            [answer] = got
            assert isinstance(answer, Http1Response) and answer.body == b"second"
            assert client.outstanding == {}
            await client.aclose()

    run(scenario)


def test_polls_racing_the_loops_own_reads_lose_and_double_nothing(parser: str) -> None:
    """A chain of requests, each written from the last one's answer, while a stand-in for the
    receiver polls several times every pass: each answer reaches its callback exactly once,
    whichever read took it (a poll, the loop's, or part each)."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        while (request := await read_request(reader, peer)) is not None:
            answer = reply(body=request.rsplit(b"\r\n", 1)[1])
            writer.write(answer[:20])  # in two parts: a poll may take one, the loop the other
            await asyncio.sleep(0)
            writer.write(answer[20:])

    async def scenario() -> None:
        async with serving(echo) as peer:
            client = Http1Client(parser=parser, pollable=True)
            await client.post(peer.url, b"-1", HEADERS, 5)
            answers: list[bytes] = []
            finished = asyncio.get_running_loop().create_future()

            def landed(n: int, result: Http1Response | Http1Error) -> None:
                assert isinstance(result, Http1Response), result
                answers.append(result.body)
                if n + 1 < 200:
                    client.start(peer.url, b"%d" % (n + 1), HEADERS, 5, lambda r: landed(n + 1, r))
                else:
                    finished.set_result(None)

            polling = True

            def receiver_stand_in() -> None:
                for _ in range(3):
                    client.poll()
                if polling:
                    asyncio.get_running_loop().call_soon(receiver_stand_in)

            receiver_stand_in()
            client.start(peer.url, b"0", HEADERS, 5, lambda r: landed(0, r))
            await finished
            polling = False
            assert answers == [b"%d" % n for n in range(200)]
            assert peer.connections == 1 and len(peer.requests) == 201
            await client.aclose()

    run(scenario)


def test_poll_is_a_no_op_when_no_answer_is_awaited(parser: str) -> None:
    async def scenario() -> None:
        async with serving() as peer:
            pollable = Http1Client(parser=parser, pollable=True)
            pollable.poll()  # nothing open yet
            await pollable.post(peer.url, b"x", HEADERS, 5)
            assert pollable.outstanding == {}
            pollable.poll()  # an idle connection: not read
            # A client on the loop's own transports never lists a connection to poll.
            plain = Http1Client(parser=parser)
            await plain.post(peer.url, b"x", HEADERS, 5)
            got: list[Http1Response | Http1Error] = []
            plain.start(peer.url, b"y", HEADERS, 5, got.append)
            assert plain.outstanding == {}
            plain.poll()
            assert got == []  # the answer comes through the loop, later
            while not got:
                await asyncio.sleep(0)
            assert isinstance(got[0], Http1Response)
            await pollable.aclose()
            await plain.aclose()

    run(scenario)


@pytest.mark.parametrize("size", [1, 8 * 1024 * 1024])
def test_a_request_bigger_than_the_socket_takes_is_written_in_full(parser: str, size: int) -> None:
    async def scenario() -> None:
        async with serving() as peer:
            client = Http1Client(parser=parser, pollable=True)
            body = bytes(range(256)) * (size // 256) or b"x"
            for _ in range(2):  # and the connection is in step after it
                response = await client.post(peer.url, body, HEADERS, 10)
                assert response.status == 200
            assert [r.endswith(body) for r in peer.requests] == [True, True]
            assert peer.connections == 1
            await client.aclose()

    run(scenario)


def test_aclose_with_a_write_still_pending_closes_the_connection(parser: str) -> None:
    async def never_read(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        await asyncio.sleep(30)

    async def scenario() -> None:
        async with serving(never_read) as peer:
            client = Http1Client(parser=parser, pollable=True)
            got: list[Http1Response | Http1Error] = []
            client.start(peer.url, b"x" * (32 * 1024 * 1024), HEADERS, 5, got.append)
            while not peer.connections or not client.outstanding:
                await asyncio.sleep(0.01)
            await client.aclose()
            while not got:
                await asyncio.sleep(0.01)
            assert isinstance(got[0], Http1Error)

    run(scenario)


def test_a_host_name_is_looked_up_and_each_address_tried(parser: str) -> None:
    async def scenario() -> None:
        async with serving() as peer:  # on 127.0.0.1 only: "localhost" may say ::1 first
            client = Http1Client(parser=parser, pollable=True)
            response = await client.post(f"http://localhost:{peer.port}/hook", b"x", HEADERS, 5)
            assert response.status == 200 and peer.connections == 1
            await client.aclose()

    run(scenario)


def test_a_loop_that_cannot_watch_sockets_gets_the_loops_own_transports(
    parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' proactor loop has no add_reader: a pollable client works there, unpolled."""

    async def scenario() -> None:
        loop_type = type(asyncio.get_running_loop())
        monkeypatch.setattr(asyncio, "ProactorEventLoop", loop_type, raising=False)
        async with serving() as peer:
            client = Http1Client(parser=parser, pollable=True)
            await client.post(peer.url, b"x", HEADERS, 5)
            got: list[Http1Response | Http1Error] = []
            client.start(peer.url, b"y", HEADERS, 5, got.append)
            assert client.outstanding == {}  # nothing to poll
            client.poll()
            while not got:
                await asyncio.sleep(0)
            assert isinstance(got[0], Http1Response) and got[0].status == 200
            await client.aclose()

    run(scenario)
