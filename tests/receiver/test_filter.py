"""--events: events whose type matches no pattern are acknowledged, not forwarded."""

from __future__ import annotations

from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import event_body


def test_non_matching_events_are_acknowledged_and_not_forwarded(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,), events=("message.*", "quota.exceeded"))
    skipped = live.post(event_body("account.connected"))
    assert skipped.status_code == 200
    assert live.received_for(skipped).filtered
    kept = [event_body("message.failed", n=1), event_body("quota.exceeded", n=2)]
    for body in kept:
        assert live.post(body).status_code == 200
    app.wait_hits(2)
    assert app.bodies() == kept
    assert not any(r.filtered for r in live.sink.received if r.event_type != "account.connected")


def test_without_patterns_every_event_is_forwarded(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    live.post(event_body("quota.warning"))
    assert app.wait_hits(1)[0].body == event_body("quota.warning")
