"""`apimw trigger`: one realistic test event, POSTed signed to a URL or emitted by the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli import catalog
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET
from apimw_cli.signing import verify
from tests.support.capture import Captured, CaptureServer, Reply
from tests.support.cli import run
from tests.support.waiting import wait_for

SECRET = "whsec_trigger-tests-0123456789abcdef"
UNREACHABLE = "http://127.0.0.1:9/webhooks"  # the discard port: connections are refused


class VerifyingEndpoint(CaptureServer):
    """A local endpoint that checks the signature like an app should: 401 unless it verifies;
    a verification request that verifies gets its challenge back."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        super().__init__(self.answer, unique_path=True)

    def answer(self, request: Captured) -> Reply:
        verdict = verify(request.body, request.header(SIGNATURE_HEADER), self.secret)
        if not verdict.valid:
            return Reply(401, b"bad signature", content_type=None)
        if request.is_verification:
            return Reply(200, str(request.payload.get("challenge", "")).encode(), None)
        return Reply(200, b"ok", content_type=None)

    def events(self) -> list[Captured]:
        return [
            r
            for r in self.requests
            if r.path.startswith(self.path) and r.payload.get("type") in catalog.EVENT_NAMES
        ]


@pytest.fixture
def verifying_endpoint() -> Iterator[VerifyingEndpoint]:
    with VerifyingEndpoint() as running:
        yield running


def trigger_to(url: str, *args: str, secret: str = SECRET) -> Any:
    return run("-o", "json", "trigger", *args, "--to", url, "--secret", secret)


# --- --to URL --------------------------------------------------------------------------------


def test_to_posts_a_correctly_signed_catalog_event(verifying_endpoint: VerifyingEndpoint) -> None:
    result = trigger_to(verifying_endpoint.url, "message.received")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == 200
    [request] = verifying_endpoint.events()
    assert request.payload["type"] == "message.received"
    event = catalog.get("message.received")
    assert event is not None and set(request.payload["data"]) == set(event.fields)
    assert verify(request.body, request.headers[SIGNATURE_HEADER], SECRET).valid


def test_to_sends_the_delivery_headers_and_a_test_marker(
    verifying_endpoint: VerifyingEndpoint,
) -> None:
    result = trigger_to(verifying_endpoint.url, "message.sent")
    assert result.exit_code == 0, result.stderr
    headers = verifying_endpoint.events()[0].headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "APIMW-Webhooks/1.0"
    assert headers["X-APIMW-Event"] == "message.sent"
    assert headers["X-APIMW-Delivery"] == json.loads(result.stdout)["delivery"]
    assert headers["X-APIMW-Test"] == "apimw-cli"
    # A new event, not a replay: APIMW's headers and the test marker, no relay marker.
    apimw_headers = {name.lower() for name in headers if name.lower().startswith("x-apimw-")}
    assert apimw_headers == {
        "x-apimw-event",
        "x-apimw-delivery",
        "x-apimw-test",
        "x-apimw-signature",
    }


def test_to_sends_compact_json(verifying_endpoint: VerifyingEndpoint) -> None:
    assert trigger_to(verifying_endpoint.url, "message.sent").exit_code == 0
    body = verifying_endpoint.events()[0].body
    assert body == json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


def test_to_prints_status_and_latency(verifying_endpoint: VerifyingEndpoint) -> None:
    result = run("trigger", "message.read", "--to", verifying_endpoint.url, "--secret", SECRET)
    assert result.exit_code == 0, result.stderr
    assert "200" in result.stdout and "ms" in result.stdout


def test_to_reads_the_secret_from_an_environment_variable(
    verifying_endpoint: VerifyingEndpoint,
) -> None:
    result = run(
        "trigger", "message.sent", "--to", verifying_endpoint.url, "--secret-env", "HOOK",
        env={"HOOK": SECRET},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(verifying_endpoint.events()) == 1


def test_set_overrides_fields_with_json_or_string_values(
    verifying_endpoint: VerifyingEndpoint,
) -> None:
    result = trigger_to(
        verifying_endpoint.url, "message.received",
        "--set", "data.text=hello", "--set", "data.contact.name=Ada", "--set", "data.retry=3",
        "--set", "data.flags={\"vip\": true}",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = verifying_endpoint.events()[0].payload["data"]
    assert data["text"] == "hello"
    assert data["contact"]["name"] == "Ada" and data["contact"]["wa_id"]
    assert data["retry"] == 3
    assert data["flags"] == {"vip": True}


def test_file_merges_data_then_set_wins(
    verifying_endpoint: VerifyingEndpoint, tmp_path: Path
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"text": "from file", "message_id": "wamid.FILE"}))
    result = trigger_to(
        verifying_endpoint.url,
        "message.received",
        "--file",
        str(payload),
        "--set",
        "data.text=from set",
    )
    assert result.exit_code == 0, result.stderr
    data = verifying_endpoint.events()[0].payload["data"]
    assert data["message_id"] == "wamid.FILE"
    assert data["text"] == "from set"
    assert data["from"].startswith("+")


def test_file_accepts_a_whole_envelope(
    verifying_endpoint: VerifyingEndpoint, tmp_path: Path
) -> None:
    payload = tmp_path / "payload.json"
    envelope = {"type": "message.sent", "timestamp": "2024-01-15T10:30:00Z", "data": {"to": "+1"}}
    payload.write_text(json.dumps(envelope))
    assert trigger_to(verifying_endpoint.url, "message.sent", "--file", str(payload)).exit_code == 0
    sent = verifying_endpoint.events()[0].payload
    assert sent["timestamp"] == "2024-01-15T10:30:00Z"
    assert sent["data"]["to"] == "+1" and sent["data"]["message_id"].startswith("wamid.")


def test_wrong_secret_is_rejected_by_the_endpoint_and_exits_1(
    verifying_endpoint: VerifyingEndpoint,
) -> None:
    result = trigger_to(verifying_endpoint.url, "message.sent", secret="whsec_not-the-right-one")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == 401
    assert "401" in result.stderr
    assert "rejected the signature" in result.stderr


def test_hints_fit_the_failure() -> None:
    from apimw_cli.commands.trigger import _failure_hint

    assert "logs" in _failure_hint(500, None, "http://app/") and "secret" not in _failure_hint(
        500, None, "http://app/"
    )
    assert "secret" in _failure_hint(403, None, "http://app/")
    assert "running" in _failure_hint(None, "connection refused", "http://app/")
    assert "in time" in _failure_hint(None, "timed out", "http://app/")


def test_receiver_down_exits_1() -> None:
    result = trigger_to(UNREACHABLE, "message.sent")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "connection refused"
    assert "could not deliver" in result.stderr
    assert "is your app running" in result.stderr


def test_to_without_a_secret_is_a_usage_error() -> None:
    result = run("trigger", "message.sent", "--to", UNREACHABLE)
    assert result.exit_code == 2
    assert "--secret" in result.stderr


# --- errors before anything is sent ----------------------------------------------------------


def test_unknown_type_exits_2_with_a_suggestion(verifying_endpoint: VerifyingEndpoint) -> None:
    result = trigger_to(verifying_endpoint.url, "message.recieved")
    assert result.exit_code == 2
    assert "did you mean 'message.received'" in result.stderr
    assert verifying_endpoint.requests == []


def test_malformed_set_exits_2() -> None:
    result = trigger_to(UNREACHABLE, "message.sent", "--set", "data.text")
    assert result.exit_code == 2
    assert "dotted.path=value" in result.stderr


# --- through the sandbox ---------------------------------------------------------------------


def register_webhook(running_sandbox: RunningSandbox, url: str, events: list[str]) -> None:
    with httpx.Client(base_url=running_sandbox.base_url, timeout=10.0, trust_env=False) as api:
        token = api.post(
            "auth/token", json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}
        ).json()["data"]["access_token"]
        response = api.post(
            "webhooks",
            json={"url": url, "events": events, "secret": SECRET},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()


def test_sandbox_emits_to_subscribed_webhooks(
    running_sandbox: RunningSandbox, verifying_endpoint: VerifyingEndpoint
) -> None:
    register_webhook(running_sandbox, verifying_endpoint.url, ["message.received"])
    result = run(
        "--sandbox", "-o", "json", "trigger", "message.received", "--set", "data.text=hello"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["deliveries"] == 1
    [request] = wait_for(verifying_endpoint.events, 10.0, "the event at the endpoint")
    assert request.payload["data"]["text"] == "hello"
    assert verify(request.body, request.headers[SIGNATURE_HEADER], SECRET).valid


def test_sandbox_reports_how_many_webhooks_it_queued_for(running_sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "trigger", "quota.warning")
    assert result.exit_code == 0, result.stderr
    assert "queued for 0 webhooks" in result.stdout
