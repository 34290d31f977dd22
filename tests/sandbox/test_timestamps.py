"""Every timestamp the sandbox answers with is UTC to the second with `Z`, as in every docs
example (`2024-01-15T10:30:00Z`): webhooks, their attempts, messages, and the events themselves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

from tests.sandbox.shapes import TIMESTAMP
from tests.sandbox.support import create_webhook, data_of, emit, wait_verified
from tests.support.endpoint import Behaviour
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

# Anything that starts like a date is held to the documented format.
DATE_LIKE = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)


def dates_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, string) for every string in a JSON value that starts like a date."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from dates_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from dates_in(item, f"{path}[{index}]")
    elif isinstance(value, str) and DATE_LIKE.match(value):
        yield path, value


def assert_timestamps(value: Any, at_least: int) -> None:
    found = list(dates_in(value))
    bad = [(path, text) for path, text in found if not TIMESTAMP.fullmatch(text)]
    assert not bad, bad
    assert len(found) >= at_least, found


def test_every_answer_and_event_has_second_precision_z_timestamps(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    failing = make_endpoint(Behaviour(status=500), unique_path=True)
    created = create_webhook(sandbox_api, failing.url, ["message.sent", "message.received"])
    assert_timestamps(created, 2)  # created_at, updated_at
    wait_verified(sandbox_api, created["id"])
    emit(sandbox_api, "message.sent")
    failing.wait_deliveries(2)  # a retry is pending or made: next_retry_at was set

    def attempts() -> Any:
        page = data_of(sandbox_api.get(f"webhooks/{created['id']}/deliveries"))
        listed = page["deliveries"]
        return page if any(a["next_retry_at"] for a in listed) else None

    assert_timestamps(wait_for(attempts, 10.0, "an attempt with next_retry_at"), 2)
    webhook = data_of(sandbox_api.get(f"webhooks/{created['id']}"))
    assert webhook["last_delivery_at"] is not None
    assert_timestamps(webhook, 3)  # created_at, updated_at, last_delivery_at
    assert_timestamps(data_of(sandbox_api.get("webhooks")), 3)

    number = "+14155550199"
    data_of(sandbox_api.post("sandbox/inbound", json={"from": number, "text": "hi"}))
    sent = data_of(sandbox_api.post("whatsapp/messages/send", json={"to": number, "message": "x"}))
    assert_timestamps(sent, 1)

    def read() -> Any:
        status = data_of(sandbox_api.get(f"whatsapp/messages/{sent['message_id']}"))
        return status if status["status"] == "read" else None

    assert_timestamps(wait_for(read, 10.0, "status read"), 3)
    events = [request.json() for request in failing.deliveries()]
    assert_timestamps(events, len(events))


def test_the_walk_finds_milliseconds_and_offsets() -> None:
    assert list(dates_in({"a": ["2024-01-15T10:30:00.123Z"]})) == [
        (".a[0]", "2024-01-15T10:30:00.123Z")
    ]
    assert not TIMESTAMP.fullmatch("2024-01-15T10:30:00.123Z")
    assert not TIMESTAMP.fullmatch("2024-01-15T10:30:00+00:00")
    assert not TIMESTAMP.fullmatch("2024-01-15T10:30:00Z\n")
