"""Event sources: message send with its status events, inbound messages, sandbox/events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from apimw_cli import catalog
from tests.sandbox.support import (
    MakeApi,
    MakeSandbox,
    assert_names_field,
    create_webhook,
    data_of,
    emit,
    error_of,
    parse_time,
    wait_verified,
)
from tests.support.endpoint import Endpoint
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

MESSAGE_EVENTS = ["message.sent", "message.delivered", "message.read", "message.failed"]
TO = "+14155550123"


def subscribe(sandbox_api: httpx.Client, hook: Endpoint, events: list[str]) -> None:
    created = create_webhook(sandbox_api, hook.url, events)
    wait_verified(sandbox_api, created["id"])


def customer_writes(sandbox_api: httpx.Client, sender: str = TO) -> None:
    """The customer writes first: their 24-hour window opens, so texts to them are delivered."""
    data_of(sandbox_api.post("sandbox/inbound", json={"from": sender, "text": "hi"}))


def send(sandbox_api: httpx.Client, to: str = TO, message: str = "hello") -> dict[str, Any]:
    sent: dict[str, Any] = data_of(
        sandbox_api.post("whatsapp/messages/send", json={"to": to, "message": message})
    )
    return sent


def test_send_answers_sent_message(sandbox_api: httpx.Client) -> None:
    sent = send(sandbox_api)
    assert {"message_id", "to", "status", "timestamp"} <= set(sent)
    assert sent["message_id"].startswith("wamid.")
    assert sent["to"] == TO
    assert sent["status"] == "sent"
    parse_time(sent["timestamp"])


def test_send_accepts_preview_url(sandbox_api: httpx.Client) -> None:
    body = {"to": TO, "message": "see https://example.com", "preview_url": True}
    assert data_of(sandbox_api.post("whatsapp/messages/send", json=body))["status"] == "sent"


def test_send_emits_sent_delivered_read_in_order(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    sandbox_api = make_sandbox_api(
        make_sandbox(time_scale=10.0)
    )  # delivered after 0.2 s, read after 0.5 s
    hook = make_endpoint()
    subscribe(sandbox_api, hook, MESSAGE_EVENTS)
    customer_writes(sandbox_api)
    sent = send(sandbox_api)
    events = hook.wait_deliveries(3)
    assert [e.event_type for e in events] == ["message.sent", "message.delivered", "message.read"]
    for event in events:
        assert event.json()["data"]["message_id"] == sent["message_id"]
        assert event.json()["data"]["to"] == TO
    assert events[0].json()["data"]["message_type"] == "text"


def test_status_endpoint_follows_the_events(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi
) -> None:
    sandbox_api = make_sandbox_api(
        make_sandbox(time_scale=4.0)
    )  # delivered after 0.5 s, read after 1.25 s
    customer_writes(sandbox_api)
    sent = send(sandbox_api)
    now = data_of(sandbox_api.get(f"whatsapp/messages/{sent['message_id']}"))
    assert now["message_id"] == sent["message_id"]
    assert now["to"] == TO
    assert now["type"] == "text"
    assert now["status"] == "sent"
    assert now["timestamps"]["sent"] is not None
    assert now["timestamps"]["delivered"] is None
    assert now["timestamps"]["read"] is None

    def read() -> dict[str, Any] | None:
        status: dict[str, Any] = data_of(sandbox_api.get(f"whatsapp/messages/{sent['message_id']}"))
        return status if status["status"] == "read" else None

    final = wait_for(read, timeout=10.0, interval=0.05, what="status read")
    stamps = [parse_time(final["timestamps"][k]) for k in ("sent", "delivered", "read")]
    assert stamps == sorted(stamps)


def test_status_of_unknown_message_is_404(sandbox_api: httpx.Client) -> None:
    error_of(sandbox_api.get("whatsapp/messages/wamid.nope"), 404, "NOT_FOUND")


def test_number_ending_0000_fails(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    sandbox_api = make_sandbox_api(make_sandbox(time_scale=10.0))
    hook = make_endpoint()
    subscribe(sandbox_api, hook, MESSAGE_EVENTS)
    customer_writes(sandbox_api)
    customer_writes(sandbox_api, "+14155550000")  # it fails anyway: not on WhatsApp
    failing = send(sandbox_api, to="+14155550000")
    sent, failed = hook.wait_deliveries(2)
    assert [sent.event_type, failed.event_type] == ["message.sent", "message.failed"]
    data = failed.json()["data"]
    assert data["message_id"] == failing["message_id"]
    assert data["to"] == "+14155550000"
    assert data["error"]["code"] == "131026" and data["error"]["message"]
    status = data_of(sandbox_api.get(f"whatsapp/messages/{failing['message_id']}"))
    assert status["status"] == "failed"
    # A second message's read event comes after the failed one's would have: none came.
    other = send(sandbox_api)
    wait_for(
        lambda: any(
            d.event_type == "message.read" and d.json()["data"]["message_id"] == other["message_id"]
            for d in hook.deliveries()
        ),
        what="the other message to be read",
    )
    about_failing = [
        d.event_type
        for d in hook.deliveries()
        if d.json()["data"]["message_id"] == failing["message_id"]
    ]
    assert about_failing == ["message.sent", "message.failed"]


@pytest.mark.parametrize("to", ["hello", "", "+1234567890123456789", "+1 415 555", "+12ab34567"])
def test_invalid_number_is_invalid_phone_number(sandbox_api: httpx.Client, to: str) -> None:
    response = sandbox_api.post("whatsapp/messages/send", json={"to": to, "message": "hi"})
    error_of(response, 400, "INVALID_PHONE_NUMBER")


def test_message_of_4096_chars_is_accepted(sandbox_api: httpx.Client) -> None:
    send(sandbox_api, message="x" * 4096)


def test_message_over_4096_chars_is_rejected(sandbox_api: httpx.Client) -> None:
    response = sandbox_api.post("whatsapp/messages/send", json={"to": TO, "message": "x" * 4097})
    assert_names_field(error_of(response, 400, "VALIDATION_ERROR"), "message")


def test_inbound_emits_message_received_with_contact(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook, ["message.received"])
    answer = data_of(
        sandbox_api.post("sandbox/inbound", json={"from": TO, "text": "Hi there", "name": "Maria"})
    )
    assert answer["type"] == "message.received"
    assert answer["deliveries"] == 1
    assert answer["event_id"]
    (event,) = hook.wait_deliveries(1)
    data = event.json()["data"]
    assert data["from"] == TO
    assert data["text"] == "Hi there"
    assert data["message_type"] == "text"
    assert data["message_id"].startswith("wamid.")
    assert data["contact"] == {"name": "Maria", "wa_id": TO.lstrip("+")}


@pytest.mark.parametrize("event_type", catalog.EVENT_NAMES)
def test_sandbox_events_sends_catalog_sample_with_data_merged(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint, event_type: str
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook, [event_type])
    answer = emit(sandbox_api, event_type, {"marker": event_type})
    assert answer["type"] == event_type
    assert answer["deliveries"] == 1
    (event,) = hook.wait_deliveries(1)
    body = event.json()
    assert body["type"] == event_type
    assert event.header("X-APIMW-Event") == event_type
    described = catalog.get(event_type)
    assert described is not None
    for name in described.fields:
        assert name in body["data"], name
    assert body["data"]["marker"] == event_type


def test_sandbox_events_merges_nested_data(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook, ["message.received"])
    emit(sandbox_api, "message.received", {"contact": {"name": "Zed"}, "text": "override"})
    (event,) = hook.wait_deliveries(1)
    data = event.json()["data"]
    assert data["text"] == "override"
    assert data["contact"]["name"] == "Zed"
    assert data["contact"]["wa_id"], "nested fields of the sample must survive the merge"


def test_sandbox_events_without_data_sends_plain_sample(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook, ["quota.warning"])
    emit(sandbox_api, "quota.warning")
    (event,) = hook.wait_deliveries(1)
    assert set(event.json()["data"]) == {"quota", "used", "limit", "period"}


@pytest.mark.parametrize("event_type", ["message.bogus", "webhook.verification", "", 5])
def test_sandbox_events_rejects_unknown_type(sandbox_api: httpx.Client, event_type: object) -> None:
    response = sandbox_api.post("sandbox/events", json={"type": event_type})
    assert_names_field(error_of(response, 400, "VALIDATION_ERROR"), "type")
