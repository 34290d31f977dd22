"""--respond: ack, passthrough and fixed, with --delay and --fail-rate."""

from __future__ import annotations

import time

from apimw_cli.receiver.events import Respond
from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import (
    event_body,
    every_server_stack,  # noqa: F401  (a fixture: every test here runs on both stacks)
    free_port,
)


def test_ack_answers_while_the_forward_target_hangs(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    # The app never answers before the test ends: an ack that waited for the forward would
    # not come at all. (How fast an ack is: benchmarks/receiver.py.)
    app = start_app(hang=True)
    live = start_receiver(forward_to=(app.url,))
    live.post(event_body(n=0))  # opens the keep-alive connection; its forward hangs
    app.wait_hits(1)
    response = live.post(event_body(n=1))
    assert response.status_code == 200
    assert live.sink.forwarded == []  # both forwards still wait for the app


def test_passthrough_returns_the_apps_status(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app(status=202, reply=b"queued")
    live = start_receiver(respond=Respond.PASSTHROUGH, forward_to=(app.url,))
    response = live.post(event_body())
    assert (response.status_code, response.content) == (202, b"queued")
    assert [(f.status, f.error) for f in live.sink.wait_forwarded(1)] == [(202, None)]


def test_passthrough_answers_503_when_the_app_is_down(start_receiver: StartReceiver) -> None:
    live = start_receiver(
        respond=Respond.PASSTHROUGH, forward_to=(f"http://127.0.0.1:{free_port()}/hook",)
    )
    response = live.post(event_body())
    assert response.status_code == 503
    assert "connection refused" in response.text
    assert live.received_for(response).status == 503


def test_passthrough_answers_503_when_the_app_is_too_slow(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app(hang=True)
    live = start_receiver(
        respond=Respond.PASSTHROUGH, forward_to=(app.url,), passthrough_timeout=0.3
    )
    response = live.post(event_body())  # the app hangs until the test ends
    assert response.status_code == 503
    assert "timed out after 0.3s" in response.text


def test_passthrough_without_a_forward_target_answers_503(start_receiver: StartReceiver) -> None:
    live = start_receiver(respond=Respond.PASSTHROUGH)
    response = live.post(event_body())
    assert response.status_code == 503
    assert "no --forward-to target" in response.text


def test_passthrough_retry_after_an_app_failure_is_forwarded_again(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app(statuses=[500])
    live = start_receiver(respond=Respond.PASSTHROUGH, forward_to=(app.url,))
    assert live.post(event_body(), delivery="dlv_1").status_code == 500
    retry = live.post(event_body(), delivery="dlv_1")
    assert retry.status_code == 200
    assert not live.received_for(retry).duplicate
    assert len(app.wait_hits(2)) == 2
    after_success = live.post(event_body(), delivery="dlv_1")
    assert live.received_for(after_success).duplicate


def test_fixed_answers_the_configured_status_and_still_forwards(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(respond=Respond.FIXED, status=500, forward_to=(app.url,))
    assert live.post(event_body()).status_code == 500
    assert app.wait_hits(1)[0].body == event_body()


def test_fixed_answers_duplicates_with_the_configured_status_too(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(respond=Respond.FIXED, status=410)
    live.post(event_body(), delivery="dlv_1")
    retry = live.post(event_body(), delivery="dlv_1")
    assert retry.status_code == 410
    assert live.received_for(retry).duplicate


def test_delay_postpones_the_answer(start_receiver: StartReceiver) -> None:
    live = start_receiver(respond=Respond.FIXED, status=204, delay=0.3)
    started = time.perf_counter()
    response = live.post(event_body())
    assert response.status_code == 204
    assert time.perf_counter() - started >= 0.3


def test_fail_rate_one_answers_500_and_does_not_forward(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(fail_rate=1.0, forward_to=(app.url,))
    response = live.post(event_body(), delivery="dlv_1")
    assert response.status_code == 500
    received = live.received_for(response)
    assert received.note is not None and "--fail-rate" in received.note
    retry = live.post(event_body(), delivery="dlv_1")  # a failure is not remembered as seen
    assert not live.received_for(retry).duplicate
    assert live.sink.forwarded == [] and app.bodies() == []


def test_fail_rate_fails_about_that_share_of_events(start_receiver: StartReceiver) -> None:
    live = start_receiver(fail_rate=0.5)
    statuses = [live.post(event_body(n=n)).status_code for n in range(200)]
    assert set(statuses) == {200, 500}
    assert 50 <= statuses.count(500) <= 150  # binomial(200, 0.5): outside is ~1e-12 likely
