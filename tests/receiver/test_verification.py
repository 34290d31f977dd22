"""Every signature verdict (and its diagnosis) is surfaced; invalid events get 401."""

from __future__ import annotations

import json

import pytest

from apimw_cli.models import VerdictCode
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.signing import sign
from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import (
    OLD_SECRET,
    SECRET,
    Live,
    event_body,
    every_server_stack,  # noqa: F401  (a fixture: every test here runs on both stacks)
)


def test_valid_signature_is_accepted_and_reported_valid(receiver: Live) -> None:
    response = receiver.post(event_body())
    assert response.status_code == 200
    received = receiver.received_for(response)
    assert received.kind == "event"
    assert received.event_type == "message.sent"
    assert received.verdict is not None and received.verdict.code is VerdictCode.VALID


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":"message.read","n":NaN}',  # orjson refuses these; Python's json reads them
        b'{"type":"message.read","n":123456789012345678901234567890}',
        '{"type":"message.read"}'.encode("utf-16"),
        b'{"type":"message.read","s":"\\ud800"}',
        b'  {"type":"message.read"}  ',
    ],
)
def test_the_type_is_read_from_any_body_pythons_json_reads(receiver: Live, body: bytes) -> None:
    received = receiver.received_for(receiver.post(body))
    assert (received.kind, received.event_type) == ("event", "message.read")


def test_a_body_that_is_not_a_json_object_falls_back_to_the_event_header(receiver: Live) -> None:
    for body in (b"[1, 2]", b'{"type": "message.read"', b"\xff\xfe\x00"):
        response = receiver.post(body, **{"X-APIMW-Event": "message.sent"})
        assert receiver.received_for(response).event_type == "message.sent"


def test_missing_signature_is_refused_with_401(receiver: Live) -> None:
    response = receiver.post(event_body(), secret=None)
    assert response.status_code == 401
    received = receiver.received_for(response)
    assert received.kind == "invalid"
    assert received.status == 401
    assert received.verdict is not None and received.verdict.code is VerdictCode.MISSING


def test_malformed_signature_is_refused_with_401(receiver: Live) -> None:
    body = event_body()
    response = receiver.request("POST", content=body, headers={SIGNATURE_HEADER: "sha256=not-hex"})
    assert response.status_code == 401
    received = receiver.received_for(response)
    assert received.verdict is not None and received.verdict.code is VerdictCode.MALFORMED
    assert "hexadecimal" in received.verdict.reason


def test_mismatch_from_reserialised_json_is_diagnosed(receiver: Live) -> None:
    sent = event_body()
    reserialised = json.dumps(json.loads(sent)).encode()  # what a framework re-encoding signs
    headers = {SIGNATURE_HEADER: sign(reserialised, SECRET)}
    response = receiver.request("POST", content=sent, headers=headers)
    assert response.status_code == 401
    received = receiver.received_for(response)
    verdict = received.verdict
    assert verdict is not None and verdict.code is VerdictCode.MISMATCH
    assert verdict.diagnosis is not None and "re-serialised as JSON" in verdict.diagnosis


def test_second_secret_during_rotation_is_accepted(start_receiver: StartReceiver) -> None:
    live = start_receiver(secrets=(SECRET, OLD_SECRET))
    response = live.post(event_body(), secret=OLD_SECRET)
    assert response.status_code == 200
    received = live.received_for(response)
    assert received.verdict is not None
    assert received.verdict.code is VerdictCode.VALID
    assert received.verdict.matched_secret == 1


def test_invalid_event_is_never_forwarded(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    assert live.post(event_body(n=1), secret="whsec_wrong").status_code == 401
    assert live.post(event_body(n=2)).status_code == 200
    app.wait_hits(1)  # forwards keep receipt order: had #1 been forwarded, it came first
    assert app.bodies() == [event_body(n=2)]
    assert [f.status for f in live.sink.wait_forwarded(1)] == [200]


def test_skip_verify_accepts_unsigned_events_as_skipped(start_receiver: StartReceiver) -> None:
    live = start_receiver(secrets=(), skip_verify=True)
    response = live.post(event_body(), secret=None)
    assert response.status_code == 200
    received = live.received_for(response)
    assert received.kind == "event"
    assert received.verdict is not None and received.verdict.code is VerdictCode.SKIPPED


def test_no_secret_without_skip_verify_refuses_events(start_receiver: StartReceiver) -> None:
    live = start_receiver(secrets=())
    response = live.post(event_body(), secret=SECRET)
    assert response.status_code == 401
    received = live.received_for(response)
    assert received.verdict is not None and received.verdict.code is VerdictCode.NO_SECRET


def test_uppercase_hex_signature_is_valid(receiver: Live) -> None:
    body = event_body()
    header = "sha256=" + sign(body, SECRET)[len("sha256=") :].upper()
    response = receiver.request("POST", content=body, headers={SIGNATURE_HEADER: header})
    assert response.status_code == 200


def test_secret_longer_than_a_hash_block_is_verified(start_receiver: StartReceiver) -> None:
    long_secret = "whsec_" + "k" * 100  # HMAC hashes keys over 64 bytes first
    live = start_receiver(secrets=(long_secret,))
    assert live.post(event_body(), secret=long_secret).status_code == 200
    assert live.post(event_body(n=1), secret=SECRET).status_code == 401
