"""The challenge rule of `webhooks test`, decided once in apimw_cli/protocol.py: the body is the
challenge as text (whitespace around it ignored) or a JSON object {"challenge": value}. A JSON
string ("abc") is refused, as the sandbox refuses it (docs/apimw-api.md, "Webhooks")."""

from __future__ import annotations

import json
import threading
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


def test_an_answer_after_the_limit_fails_although_it_is_200() -> None:
    """APIMW's rule: 200 after 5 s is a failed attempt (the issue's `accepts` passed on 6 s)."""

    def late(body: bytes, headers: Mapping[str, str]) -> Reply:
        return Reply(200, b"ok", seconds=6.0)

    for check in (conformance.check_accepts, conformance.check_idempotent):
        result = check(TARGET, late)
        assert result.outcome is Outcome.FAIL
        assert "after 6.0 s, over the 5 s limit" in result.detail
        assert not result.timed_out
    assert conformance.check_latency(TARGET, late).outcome is Outcome.FAIL


def test_a_timeout_stops_the_check_from_sending_more() -> None:
    sent: list[bytes] = []

    def hangs(body: bytes, headers: Mapping[str, str]) -> Reply:
        sent.append(body)
        return Reply(None, seconds=5.0, error="timed out (5 s)", timed_out=True)

    target = Target(TARGET.url, SECRET, ("message.received", "message.sent"), requests=5)
    for check in (
        conformance.check_accepts,
        conformance.check_latency,
        conformance.check_rejects_forged,
        conformance.check_idempotent,
    ):
        sent.clear()
        result = check(target, hangs)
        assert len(sent) == 1, check
        assert result.outcome is Outcome.FAIL and result.timed_out
        assert "timed out" in result.detail
        assert "not sent after the timeout" in result.detail
        assert result.to_dict()["timed_out"] is True


def test_the_checks_run_at_once_and_report_in_suite_order() -> None:
    """Every sending check's first request waits at a barrier that only opens once all of them
    are in flight together: run one after another, the barrier would break."""
    sending = [c for c in conformance.CHECKS if c != "https"]
    barrier = threading.Barrier(len(sending))
    lock = threading.Lock()
    first_done: set[int] = set()

    def send(body: bytes, headers: Mapping[str, str]) -> Reply:
        ident = threading.get_ident()
        with lock:
            first = ident not in first_done
            first_done.add(ident)
        if first:
            barrier.wait(timeout=30)  # bounds the wait only; breaks when the checks run in turn
        payload = json.loads(body)
        if payload["type"] == catalog.VERIFICATION_TYPE:
            return Reply(200, payload["challenge"].encode(), 0.01)
        if not verify(body, headers.get(SIGNATURE_HEADER, ""), SECRET).valid:
            return Reply(401, b"", 0.01)
        return Reply(200, b"ok", 0.01)

    seen: list[str] = []
    results = conformance.run(TARGET, send, progress=lambda r: seen.append(r.check))
    assert [r.check for r in results] == seen == list(conformance.CHECKS)
    assert {r.check: r.outcome for r in results} == {
        c: Outcome.PASS for c in conformance.CHECKS
    } | {"https": Outcome.WARN}
