"""The receiver lets the forward lanes advance between two requests (Forwarder.poll): order and
completeness under a burst from many connections, a slow app that never delays receipt, and a
poll that does nothing when no answer is awaited. On both server stacks."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from apimw_cli.http1 import Http1Client
from apimw_cli.models import Forwarded, Received
from apimw_cli.receiver.forwarder import Forwarder
from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import TLS, Live, event_body, every_server_stack, signed_headers
from tests.support.waiting import wait_for

server_stack = every_server_stack  # each test on uvloop + httptools and on asyncio + h11


def burst(live: Live, connections: int, each: int) -> None:
    """`connections` keep-alive clients posting `each` events at once, all answered 200."""
    failures: list[BaseException] = []

    def client(c: int) -> None:
        try:
            with httpx.Client(timeout=10.0, verify=TLS) as http:
                for n in range(each):
                    body = event_body(n=c * 1000 + n)
                    answer = http.post(live.url, content=body, headers=signed_headers(body))
                    assert answer.status_code == 200
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


def test_ordered_forwarding_under_a_burst_keeps_receipt_order_and_loses_nothing(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,), concurrency=1)
    burst(live, connections=16, each=15)
    received = live.sink.wait_received(240)
    forwarded = live.sink.wait_forwarded(240)
    assert [f.record_id for f in forwarded] == [r.record_id for r in received]
    assert all(f.status == 200 and f.error is None for f in forwarded)
    # The app got each event once, in the order the receiver got them.
    bodies = {r.record_id: r.body for r in received}
    assert app.bodies() == [bodies[r.record_id] for r in received]


def test_concurrency_n_under_a_burst_forwards_each_event_once(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,), concurrency=4)
    burst(live, connections=8, each=15)
    received = live.sink.wait_received(120)
    forwarded = live.sink.wait_forwarded(120)
    assert sorted(f.record_id for f in forwarded) == sorted(r.record_id for r in received)
    assert sorted(app.bodies()) == sorted(r.body for r in received)


def test_a_slow_app_does_not_delay_receipt(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    # The app holds its first request until released: every poll meanwhile finds no answer.
    app = start_app(delay=lambda _n: 30.0)
    live = start_receiver(forward_to=(app.url,), concurrency=1)
    sent = [event_body(n=n) for n in range(30)]
    for body in sent:
        assert live.post(body).status_code == 200
    assert len(live.sink.received) == 30
    assert live.sink.forwarded == []
    assert len(app.wait_hits(1)) == 1  # one in flight: order is kept
    app.release.set()
    forwarded = live.sink.wait_forwarded(30)
    assert [f.record_id for f in forwarded] == [r.record_id for r in live.sink.received]
    assert app.bodies() == sent


class _Sink(list[Forwarded]):
    def __call__(self, item: Received | Forwarded) -> None:
        assert isinstance(item, Forwarded)
        self.append(item)


def test_poll_is_a_no_op_when_no_forward_awaits_an_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    polled: list[Http1Client] = []
    real = Http1Client.poll

    def counted(self: Http1Client) -> None:
        polled.append(self)
        real(self)

    monkeypatch.setattr(Http1Client, "poll", counted)

    async def scenario() -> None:
        forwarder = Forwarder(["http://127.0.0.1:9/hook"], 5, 1, _Sink(), None)
        forwarder.poll()  # not started: no client yet
        await forwarder.start()
        forwarder.poll()  # started, nothing queued
        assert polled == []
        await forwarder.drain(1)
        forwarder.poll()  # drained and closed
        assert polled == []

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_forward_lands_with_no_request_to_poll_for_it(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    """A forward that lands while no request comes in still lands (the loop's own read)."""
    app = start_app()
    live = start_receiver(forward_to=(app.url,), concurrency=1)
    assert live.post(event_body()).status_code == 200
    [outcome] = live.sink.wait_forwarded(1)
    assert outcome.status == 200
    wait_for(lambda: len(app.hits) == 1 or None, 5, "the app's one hit")


def test_a_poll_that_fails_does_not_fail_the_delivery(
    start_receiver: StartReceiver, start_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Http1Client) -> None:
        raise RuntimeError("a bug in the lanes")

    monkeypatch.setattr(Http1Client, "poll", broken)
    app = start_app(delay=lambda n: 30.0 if n == 0 else 0.0)  # the first forward awaits
    live = start_receiver(forward_to=(app.url,), concurrency=1)
    for n in range(3):
        assert live.post(event_body(n=n)).status_code == 200
    app.release.set()
    forwarded = live.sink.wait_forwarded(3)  # through the loop's own reads
    assert [f.status for f in forwarded] == [200] * 3
