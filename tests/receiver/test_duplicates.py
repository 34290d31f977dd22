"""Duplicates (by delivery id, else by body hash) are acknowledged but not forwarded twice."""

from __future__ import annotations

from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import Live, event_body


def test_duplicate_delivery_id_is_acknowledged_and_not_forwarded_again(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    first = live.post(event_body(n=1), delivery="dlv_1")
    again = live.post(event_body(n=1, retry=True), delivery="dlv_1")  # same id, any body
    assert (first.status_code, again.status_code) == (200, 200)
    assert live.received_for(again).duplicate
    assert live.post(event_body(n=2), delivery="dlv_2").status_code == 200
    app.wait_hits(2)
    assert app.bodies() == [event_body(n=1), event_body(n=2)]


def test_duplicate_body_without_delivery_id_is_detected_by_hash(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    live.post(event_body(n=1))
    again = live.post(event_body(n=1))
    assert again.status_code == 200
    assert live.received_for(again).duplicate
    live.post(event_body(n=2))
    app.wait_hits(2)
    assert app.bodies() == [event_body(n=1), event_body(n=2)]


def test_same_body_with_new_delivery_id_is_not_a_duplicate(receiver: Live) -> None:
    receiver.post(event_body(), delivery="dlv_a")
    second = receiver.post(event_body(), delivery="dlv_b")
    assert not receiver.received_for(second).duplicate


def test_dedupe_memory_is_bounded(start_receiver: StartReceiver) -> None:
    live = start_receiver(dedupe_size=2)
    for delivery in ("dlv_a", "dlv_b", "dlv_c"):  # dlv_a is the least recently seen: evicted
        live.post(event_body(), delivery=delivery)
    recent = live.post(event_body(), delivery="dlv_c")
    forgotten = live.post(event_body(), delivery="dlv_a")
    assert live.received_for(recent).duplicate
    assert not live.received_for(forgotten).duplicate
