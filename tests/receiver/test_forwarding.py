"""Forwarding to --forward-to targets: order, concurrency, failures, headers, bytes, shutdown."""

from __future__ import annotations

import threading

from apimw_cli import __version__
from apimw_cli.receiver.events import ReceiverConfig
from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import SECRET, event_body, free_port, headers_map, live_receiver


def test_forwarding_keeps_receipt_order_with_concurrency_1(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    # Uneven app latency: a forwarder that let requests overtake each other would reorder.
    app = start_app(delay=lambda n: 0.02 if n % 3 == 0 else 0.0)
    live = start_receiver(forward_to=(app.url,), concurrency=1)
    sent = [event_body(n=n) for n in range(40)]
    for body in sent:
        assert live.post(body).status_code == 200
    app.wait_hits(40)
    assert app.bodies() == sent
    forwarded = live.sink.wait_forwarded(40)
    received_ids = [r.record_id for r in live.sink.received]
    assert [f.record_id for f in forwarded] == received_ids


def test_concurrency_n_forwards_n_at_once(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    # Each request waits until 4 are in the app together, which only happens with 4 at once.
    app = start_app(barrier=threading.Barrier(4))
    live = start_receiver(forward_to=(app.url,), concurrency=4)
    for n in range(4):
        live.post(event_body(n=n))
    forwarded = live.sink.wait_forwarded(4)
    assert [f.status for f in forwarded] == [200] * 4


def test_connection_refused_is_reported(start_receiver: StartReceiver) -> None:
    target = f"http://127.0.0.1:{free_port()}/hook"
    live = start_receiver(forward_to=(target,))
    response = live.post(event_body())
    assert response.status_code == 200  # ack does not depend on the app
    [outcome] = live.sink.wait_forwarded(1)
    assert (outcome.target, outcome.status, outcome.error) == (target, None, "connection refused")
    assert outcome.record_id == live.received_for(response).record_id


def test_forward_timeout_is_reported(start_receiver: StartReceiver, start_app: StartApp) -> None:
    app = start_app(hang=True)
    live = start_receiver(forward_to=(app.url,), forward_timeout=0.2)
    live.post(event_body())
    [outcome] = live.sink.wait_forwarded(1)
    assert (outcome.status, outcome.error) == (None, "timed out after 0.2s")
    assert outcome.ms >= 200


def test_app_error_status_is_reported_with_its_body(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app(status=500, reply=b"KeyError: 'from'")
    live = start_receiver(forward_to=(app.url,))
    live.post(event_body())
    [outcome] = live.sink.wait_forwarded(1)
    assert (outcome.status, outcome.error, outcome.response_body) == (
        500,
        None,
        b"KeyError: 'from'",
    )


def test_original_headers_and_forwarded_by_are_sent(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    body = event_body()
    live.post(body, delivery="dlv_77", **{"X-APIMW-Event": "message.sent", "X-Custom": "kept"})
    headers = headers_map(app.wait_hits(1)[0])
    assert headers["x-apimw-forwarded-by"] == f"apimw-cli/{__version__}"
    assert headers["x-apimw-delivery"] == "dlv_77"
    assert headers["x-apimw-event"] == "message.sent"
    assert headers["x-custom"] == "kept"
    assert headers["user-agent"] == "APIMW-Webhooks/1.0"
    assert headers["content-type"] == "application/json"
    assert headers["x-apimw-signature"].startswith("sha256=")
    assert headers["content-length"] == str(len(body))
    assert headers["host"] == app.url.split("/")[2]  # the app's, not the receiver's


def test_hop_by_hop_headers_are_not_forwarded(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    live.post(event_body(), **{"Connection": "keep-alive, X-Hop", "X-Hop": "1", "TE": "trailers"})
    headers = headers_map(app.wait_hits(1)[0])
    assert "x-hop" not in headers
    assert "te" not in headers
    assert headers.get("connection", "keep-alive") == "keep-alive"  # the client's own, if any


def test_forwarded_body_is_byte_identical(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    # Odd spacing, escaped and raw UTF-8, a trailing newline: anything re-encoded would differ.
    body = '{"type": "message.received",  "data":{"text":"caf\\u00e9 café ✓"}}\n'.encode()
    live.post(body)
    assert app.wait_hits(1)[0].body == body


def test_every_target_receives_each_event(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    first, second = start_app(), start_app(status=201)
    live = start_receiver(forward_to=(first.url, second.url))
    live.post(event_body(n=1))
    live.post(event_body(n=2))
    assert first.wait_hits(2) and second.wait_hits(2)
    assert first.bodies() == second.bodies() == [event_body(n=1), event_body(n=2)]
    outcomes = live.sink.wait_forwarded(4)
    assert sorted((f.target, f.status) for f in outcomes) == sorted(
        [(first.url, 200), (first.url, 200), (second.url, 201), (second.url, 201)]
    )


def test_shutdown_finishes_queued_forwards(start_app: StartApp) -> None:
    app = start_app(delay=lambda _n: 0.05)
    config = ReceiverConfig(port=0, secrets=(SECRET,), forward_to=(app.url,))
    with live_receiver(config) as live:
        for n in range(5):
            live.post(event_body(n=n))
    # The context has exited: every queued forward was delivered before it returned.
    assert len(app.bodies()) == 5
    assert [f.status for f in live.sink.forwarded] == [200] * 5


def test_shutdown_reports_forwards_it_could_not_finish(start_app: StartApp) -> None:
    app = start_app(hang=True)
    config = ReceiverConfig(port=0, secrets=(SECRET,), forward_to=(app.url,))
    with live_receiver(config, drain_timeout=0.3) as live:
        live.post(event_body(n=1))
        live.post(event_body(n=2))
        app.wait_hits(1)
    # The app hangs until the test ends: the receiver stopped at its drain timeout and said so,
    # instead of waiting for the forward's own 30 s timeout.
    outcomes = live.sink.forwarded
    assert len(outcomes) == 2
    assert all(o.status is None and o.error is not None for o in outcomes)
    assert all("shut down" in (o.error or "") for o in outcomes)
