"""The forwarder's lanes (receiver/lanes.py), driven directly on one event loop: one kept-alive
connection per lane, job order across targets, a failing sink, https:// through httpx's task
path, and what drain reports for a job caught half-way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apimw_cli.models import Forwarded, Received
from apimw_cli.receiver import forwarder as forwarder_module
from apimw_cli.receiver.backlog import Backlog
from apimw_cli.receiver.forwarder import SHUTDOWN_ERROR, Forwarder
from tests.http1.server import Peer, keep_alive, read_request, reply, serving

HEADERS = [(b"content-type", b"application/json"), (b"x-apimw-delivery", b"dlv_1")]


class Reports(list[Forwarded]):
    """A sink that keeps the forward outcomes."""

    def __call__(self, event: Received | Forwarded) -> None:
        assert isinstance(event, Forwarded)
        self.append(event)


def run(scenario: Any) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 20))


def test_one_lane_keeps_one_connection_and_receipt_order() -> None:
    async def scenario() -> None:
        async with serving() as peer:
            outcomes = Reports()
            forwarder = Forwarder([peer.url], 5, 1, outcomes, None)
            await forwarder.start()
            for n in range(50):
                forwarder.submit(f"rec_{n}", b"%d" % n, HEADERS)
            await forwarder.drain(5)
            assert [o.record_id for o in outcomes] == [f"rec_{n}" for n in range(50)]
            assert all(o.status == 200 and o.response_body == b"ok" for o in outcomes)
            assert [r.rsplit(b"\r\n", 1)[1] for r in peer.requests] == [
                b"%d" % n for n in range(50)
            ]
            assert peer.connections == 1

    run(scenario)


def test_a_job_waits_for_all_its_targets_before_the_next_starts() -> None:
    async def slow_first(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while (request := await read_request(reader, peer)) is not None:
            if request.endswith(b"first"):
                await asyncio.sleep(0.2)
            writer.write(reply())

    async def scenario() -> None:
        async with serving(slow_first) as slow, serving() as fast:
            outcomes = Reports()
            forwarder = Forwarder([slow.url, fast.url], 5, 1, outcomes, None)
            await forwarder.start()
            forwarder.submit("rec_1", b"first", HEADERS)
            forwarder.submit("rec_2", b"second", HEADERS)
            await forwarder.drain(5)
            assert [(o.record_id, o.target) for o in outcomes] == [
                ("rec_1", slow.url),
                ("rec_1", fast.url),
                ("rec_2", slow.url),
                ("rec_2", fast.url),
            ]
            # The fast app got the second event only after the slow one answered the first.
            assert len(fast.requests) == 2 and len(slow.requests) == 2

    run(scenario)


def test_a_failing_sink_does_not_stop_the_queue() -> None:
    async def scenario() -> None:
        async with serving() as peer:
            outcomes = Reports()
            errors: list[dict[str, Any]] = []
            asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))

            def sink(outcome: Received | Forwarded) -> None:
                if outcome.record_id == "rec_0":
                    raise RuntimeError("a bug in a renderer")
                outcomes(outcome)

            forwarder = Forwarder([peer.url], 5, 1, sink, None)
            await forwarder.start()
            for n in range(5):
                forwarder.submit(f"rec_{n}", b"x", HEADERS)
            await forwarder.drain(5)
            assert [o.record_id for o in outcomes] == [f"rec_{n}" for n in range(1, 5)]
            assert len(errors) == 1 and isinstance(errors[0]["exception"], RuntimeError)

    run(scenario)


def test_https_targets_go_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []

    async def fake_httpx(
        client: object, record_id: str, target: str, body: bytes, headers: object, timeout: float
    ) -> Forwarded:
        sent.append(record_id)
        if record_id == "rec_hang":
            await asyncio.sleep(30)
        return Forwarded(record_id, target, 201, 1.0, None, b"created")

    monkeypatch.setattr(forwarder_module, "_post_httpx", fake_httpx)

    async def scenario() -> None:
        outcomes = Reports()
        target = "https://app.example/hook"
        forwarder = Forwarder([target], 5, 1, outcomes, None)
        await forwarder.start()
        forwarder.submit("rec_1", b"x", HEADERS)
        forwarder.submit("rec_hang", b"x", HEADERS)
        forwarder.submit("rec_queued", b"x", HEADERS)
        while len(sent) < 2:
            await asyncio.sleep(0.01)
        await forwarder.drain(0.1)
        assert [(o.record_id, o.status, o.error) for o in outcomes] == [
            ("rec_1", 201, None),
            ("rec_hang", None, SHUTDOWN_ERROR),
            ("rec_queued", None, SHUTDOWN_ERROR),
        ]

    run(scenario)


def test_drain_reports_what_landed_and_what_did_not() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        await read_request(reader, peer)
        await reader.read()

    async def scenario() -> None:
        async with serving(keep_alive) as fast, serving(hang) as held:
            outcomes = Reports()
            forwarder = Forwarder([fast.url, held.url], 5, 1, outcomes, None)
            await forwarder.start()
            forwarder.submit("rec_1", b"x", HEADERS)
            while not (fast.requests and held.requests):
                await asyncio.sleep(0.01)
            assert forwarder.pending == 1
            await forwarder.drain(0.1)
            assert [(o.target, o.status, o.error) for o in outcomes] == [
                (fast.url, 200, None),
                (held.url, None, SHUTDOWN_ERROR),
            ]
            assert forwarder.pending == 0

    run(scenario)


def test_passthrough_forwards_are_not_held_back_by_the_pool() -> None:
    """`forward_now` (passthrough) runs one per request awaiting the app: several at once, on
    their own connections beside the lane's, up to concurrency + 10."""

    async def scenario() -> None:
        arrived = asyncio.Event()

        async def together(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
        ) -> None:
            while await read_request(reader, peer) is not None:
                if len(peer.requests) >= 6:
                    arrived.set()
                await arrived.wait()  # no answer until six are in at once
                writer.write(reply())

        async with serving(together) as peer:
            forwarder = Forwarder([peer.url], 5, 1, Reports(), None)
            await forwarder.start()
            forwarder.submit("rec_background", b"x", HEADERS)
            outcomes = await asyncio.gather(
                *(forwarder.forward_now(f"rec_{n}", b"x", HEADERS) for n in range(5))
            )
            assert [o.status for o in outcomes] == [200] * 5
            assert peer.most_open == 6
            await forwarder.drain(5)

    run(scenario)


def test_the_backlog_counts_what_is_unfinished() -> None:
    """Backlog.join waits for every job taken to be marked done and for none to be queued;
    leftover() empties the queue and counts those as finished."""

    async def scenario() -> None:
        backlog = Backlog(None, 2, 10**9)  # two jobs in memory, the rest spilled
        woken: list[int] = []
        backlog.on_put = lambda: woken.append(len(backlog))
        for n in range(4):
            backlog.put(f"rec_{n}", b"%d" % n, HEADERS, ("http://app/",), None)
        assert woken == [1, 2, 3, 4] and backlog.spilling
        first = backlog.take()
        assert first is not None and first.body == b"0"
        joined = asyncio.ensure_future(backlog.join())
        await asyncio.sleep(0)
        assert not joined.done()
        spilled = [job.record_id for job in backlog.leftover()]
        assert spilled == ["rec_1", "rec_2", "rec_3"] and len(backlog) == 0
        await asyncio.sleep(0)
        assert not joined.done()  # the job taken is not done yet
        loaded = backlog.load(first)
        assert loaded.body == b"0" and loaded.headers is not None
        backlog.task_done()
        await asyncio.wait_for(joined, 1)
        assert backlog.take() is None
        backlog.close()

    run(scenario)
