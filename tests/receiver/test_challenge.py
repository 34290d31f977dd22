"""The webhook.verification challenge is answered at once, as text, signed or not."""

from __future__ import annotations

import json

import pytest

from apimw_cli.models import VerdictCode
from apimw_cli.receiver.events import Respond
from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import (
    SECRET,
    Live,
    event_body,
    every_server_stack,  # noqa: F401  (a fixture: every test here runs on both stacks)
)

CHALLENGE = b'{"type":"webhook.verification","challenge":"ch_4f2a9"}'


def test_challenge_is_answered_as_plain_text(receiver: Live) -> None:
    response = receiver.post(CHALLENGE)
    assert response.status_code == 200
    assert response.text == "ch_4f2a9"
    assert response.headers["content-type"].startswith("text/plain")


def test_signed_challenge_reports_its_verdict(receiver: Live) -> None:
    response = receiver.post(CHALLENGE, secret=SECRET)
    received = receiver.received_for(response)
    assert received.kind == "challenge"
    assert received.event_type == "webhook.verification"
    assert received.verdict is not None and received.verdict.code is VerdictCode.VALID


def test_unsigned_challenge_is_answered_with_secrets_configured(receiver: Live) -> None:
    response = receiver.post(CHALLENGE, secret=None)
    assert (response.status_code, response.text) == (200, "ch_4f2a9")
    received = receiver.received_for(response)
    assert received.kind == "challenge"
    assert received.verdict is None


def test_challenge_with_a_bad_signature_is_answered_and_flagged(receiver: Live) -> None:
    response = receiver.post(CHALLENGE, secret="whsec_wrong")
    assert (response.status_code, response.text) == (200, "ch_4f2a9")
    received = receiver.received_for(response)
    assert received.verdict is not None and received.verdict.code is VerdictCode.MISMATCH
    assert received.note is not None and "did not verify" in received.note


def test_challenge_ignores_fixed_status_and_fail_rate(start_receiver: StartReceiver) -> None:
    live = start_receiver(respond=Respond.FIXED, status=500, fail_rate=1.0, delay=30.0)
    response = live.post(CHALLENGE)
    assert (response.status_code, response.text) == (200, "ch_4f2a9")


def test_challenge_is_not_forwarded(start_receiver: StartReceiver, start_app: StartApp) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    assert live.post(CHALLENGE).status_code == 200
    event = json.dumps({"type": "message.read", "data": {}}).encode()
    assert live.post(event).status_code == 200
    app.wait_hits(1)
    assert app.bodies() == [event]


@pytest.mark.parametrize("depth", [10, 1000, 1020])
def test_a_challenge_nested_past_echoing_is_answered_not_raised(receiver: Live, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    answer = receiver.post(
        b'{"type":"webhook.verification","challenge":' + nested + b"}", secret=None
    )
    assert answer.status_code == 200
    assert receiver.post(event_body(n=1)).status_code == 200
