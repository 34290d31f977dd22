"""The challenge rule of `webhooks test`, decided once in apimw_cli/protocol.py: the body is the
challenge as text (whitespace around it ignored) or a JSON object {"challenge": value}. A JSON
string ("abc") is refused, as the sandbox refuses it (docs/apimw-api.md, "Webhooks")."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import pytest

from apimw_cli import catalog, conformance
from apimw_cli.conformance import Outcome, Reply, Target
from apimw_cli.protocol import SENDER_USER_AGENT, SIGNATURE_HEADER, TEST_HEADER
from apimw_cli.signing import verify

SECRET = "whsec_conformance-unit-0123456789abcdef"
TARGET = Target("http://localhost:3000/webhooks", SECRET, ("message.received",))


def answering(shape: Callable[[str], bytes]) -> conformance.Sender:
    """A sender whose endpoint answers 200 with `shape(challenge)` to the verification request."""

    def send(body: bytes, headers: Mapping[str, str]) -> Reply:
        payload = json.loads(body)
        assert payload["type"] == catalog.VERIFICATION_TYPE
        assert verify(body, headers[SIGNATURE_HEADER], SECRET).valid
        return Reply(200, shape(payload["challenge"]), 0.01)

    return send


@pytest.mark.parametrize(
    "shape",
    [
        lambda c: c.encode(),
        lambda c: f"  {c}\n".encode(),
        lambda c: json.dumps({"challenge": c}).encode(),
        lambda c: json.dumps({"challenge": c, "ok": True}, indent=2).encode(),
    ],
    ids=["text", "text with whitespace", "json object", "json object with more keys"],
)
def test_an_echoed_challenge_passes(shape: Callable[[str], bytes]) -> None:
    result = conformance.check_challenge(TARGET, answering(shape))
    assert result.outcome is Outcome.PASS, result.detail
    assert result.detail == "challenge echoed"


@pytest.mark.parametrize(
    "shape",
    [
        lambda c: json.dumps(c).encode(),  # "abc": the value in quotes
        lambda c: json.dumps({"challenge": "not-" + c}).encode(),
        lambda c: json.dumps([c]).encode(),
        lambda c: b"ok",
        lambda c: b"",
    ],
    ids=["json string", "json object, other value", "json array", "other text", "empty"],
)
def test_anything_else_fails(shape: Callable[[str], bytes]) -> None:
    result = conformance.check_challenge(TARGET, answering(shape))
    assert result.outcome is Outcome.FAIL
    assert result.detail == "200, but the body is not the challenge value"
    assert result.hint is not None and "challenge" in result.hint


def test_the_challenge_request_carries_the_delivery_and_test_headers() -> None:
    seen: list[Mapping[str, str]] = []

    def send(body: bytes, headers: Mapping[str, str]) -> Reply:
        seen.append(headers)
        return Reply(200, json.loads(body)["challenge"].encode())

    conformance.check_challenge(TARGET, send)
    (headers,) = seen
    assert headers["User-Agent"] == SENDER_USER_AGENT
    assert headers["X-APIMW-Event"] == catalog.VERIFICATION_TYPE
    assert headers["X-APIMW-Delivery"].startswith("dlv_test_")
    assert headers[TEST_HEADER] == conformance.TEST_HEADER_VALUE


def test_plain_http_is_a_warning_only_on_loopback() -> None:
    def unused(body: bytes, headers: Mapping[str, str]) -> Reply:
        raise AssertionError("no request for plain http")

    for host in ("localhost", "localhost.", "127.0.0.2", "[::1]", "app.localhost"):
        result = conformance.check_https(Target(f"http://{host}/h", SECRET, ()), unused)
        assert result.outcome is Outcome.WARN, host
    result = conformance.check_https(Target("http://example.com/h", SECRET, ()), unused)
    assert result.outcome is Outcome.FAIL
