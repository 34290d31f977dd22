"""Oversized bodies (413), other methods (405) and other paths (404); the server keeps running."""

from __future__ import annotations

from collections.abc import Iterator

from tests.receiver.conftest import StartReceiver
from tests.receiver.support import (  # every test here runs on both stacks
    Live,
    event_body,
    every_server_stack,  # noqa: F401
    records_of,
)


def test_body_over_max_body_gets_413_and_the_server_keeps_running(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver(max_body=1000)
    response = live.post(b"{" + b" " * 2000 + b"}")
    assert response.status_code == 413
    assert live.received_for(response).kind == "rejected"
    assert live.post(event_body()).status_code == 200


def test_streamed_body_over_max_body_gets_413(start_receiver: StartReceiver) -> None:
    live = start_receiver(max_body=1000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(50):
            yield b"x" * 100

    response = live.request("POST", content=chunks())
    assert response.status_code == 413
    assert live.post(event_body()).status_code == 200


def test_body_of_exactly_max_body_is_accepted(start_receiver: StartReceiver) -> None:
    body = event_body()
    live = start_receiver(max_body=len(body))
    assert live.post(body).status_code == 200


def test_huge_declared_body_is_refused_without_reading_it(start_receiver: StartReceiver) -> None:
    live = start_receiver(max_body=1000)
    response = live.request("POST", content=b"x" * 12_000_000)
    assert response.status_code == 413
    assert live.post(event_body()).status_code == 200


def test_get_gets_405_with_an_allow_header(receiver: Live) -> None:
    response = receiver.request("GET")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert receiver.post(event_body()).status_code == 200


def test_other_path_gets_404_when_a_path_is_set(start_receiver: StartReceiver) -> None:
    live = start_receiver(path="/hooks/apimw")
    assert live.post(event_body(), path="/other").status_code == 404
    assert live.post(event_body()).status_code == 200  # live.url is the configured path


def test_any_path_is_served_when_no_path_is_set(receiver: Live) -> None:
    assert receiver.post(event_body(), path="/any/where").status_code == 200


def test_refused_requests_are_recorded_as_rejected(start_receiver: StartReceiver) -> None:
    live = start_receiver(max_body=10)
    live.request("GET")
    live.post(event_body())
    lines = records_of(live.record, "request")
    assert [(r["method"], r["status"], r["kind"]) for r in lines] == [
        ("GET", 405, "rejected"),
        ("POST", 413, "rejected"),
    ]
