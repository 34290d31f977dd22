"""`apimw webhooks test`: the conformance suite against receivers that each get one thing wrong,
and against our own `apimw listen` receiver, which must pass every check.

The faulty receivers are capture servers (tests/support) on 127.0.0.1:0 answering as a correct
receiver would (verifies signatures, echoes the challenge, answers duplicates and unknown types
200) with exactly one fault switched on: app_under_test(fault).
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import Result

from apimw_cli import catalog, conformance
from apimw_cli.conformance import Outcome, Reply, Target
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.receiver.server import run_in_thread as run_receiver
from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.signing import verify
from tests.support import capture
from tests.support.capture import Captured, CaptureServer, Responder
from tests.support.cli import run

SECRET = "whsec_conformance-tests-secret-0123456789"
SLOW_LIMIT = 0.2  # the latency limit (and request timeout) while testing slow receivers
SLOW_SLEEP = 0.3  # how long the slow receiver takes: past SLOW_LIMIT
SENDING_CHECKS = tuple(c for c in conformance.CHECKS if c != "https")  # https sends none on http

FAULTS = {
    # fault -> the one check it must fail
    "accepts-forged": "rejects-forged",
    "not-idempotent": "idempotent",
    "wrong-challenge": "challenge",
    "unknown-500": "unknown-type",
}


def app_answers(fault: str | None) -> Responder:
    """An app as `webhooks test` should find it (checks the signature with SECRET, echoes the
    challenge as JSON, answers a repeated delivery like the first), but for `fault`."""
    seen_deliveries: set[str] = set()
    lock = threading.Lock()

    def answer(request: Captured) -> capture.Reply:
        if fault == "slow":
            time.sleep(SLOW_SLEEP)
        signature = request.header(SIGNATURE_HEADER)
        if fault != "accepts-forged" and not verify(request.body, signature, SECRET).valid:
            return capture.Reply(401, b"bad signature", "text/plain")
        event = json.loads(request.body)
        if event.get("type") == catalog.VERIFICATION_TYPE:
            challenge = "not-the-challenge" if fault == "wrong-challenge" else event["challenge"]
            body = json.dumps({"challenge": challenge}).encode()
            return capture.Reply(200, body, "application/json")
        if fault == "unknown-500" and catalog.get(event.get("type", "")) is None:
            return capture.Reply(500, b"unknown event type", "text/plain")
        delivery = request.header("X-APIMW-Delivery") or ""
        with lock:
            repeat = delivery in seen_deliveries
            seen_deliveries.add(delivery)
        if fault == "not-idempotent" and repeat:
            return capture.Reply(409, b"already processed", "text/plain")
        return capture.Reply(200, b"ok", "text/plain")

    return answer


@contextmanager
def app_under_test(fault: str | None = None) -> Iterator[tuple[str, CaptureServer]]:
    """The URL of an app with `fault` (a capture server), and the server."""
    with CaptureServer(app_answers(fault), path="/hooks") as server:
        yield server.url, server


@contextmanager
def own_receiver() -> Iterator[str]:
    """Our `apimw listen` receiver, verifying with SECRET."""
    config = ReceiverConfig(port=0, secrets=(SECRET,))
    with run_receiver(config, lambda _: None) as running:
        yield running.endpoint


def webhooks_test(*args: str, env: dict[str, str] | None = None) -> Result:
    return run("-o", "json", "webhooks", "test", *args, env=env)


def outcomes(result: Result) -> dict[str, str]:
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return {row["check"]: row["result"] for row in rows}


def suite(url: str, *args: str) -> Result:
    return webhooks_test(
        "--url", url, "--secret", SECRET, "--event", "message.received", "--requests", "3", *args
    )


# --- the receivers -----------------------------------------------------------------------


def test_a_correct_receiver_passes_and_https_warns_on_loopback() -> None:
    with app_under_test() as (url, seen):
        result = suite(url)
    assert result.exit_code == 0, result.stderr
    got = outcomes(result)
    assert got == {c: "pass" for c in conformance.CHECKS} | {"https": "warn"}
    assert seen.requests
    for headers in (request.headers for request in seen.requests):
        assert headers["X-APIMW-Test"] == "apimw-cli"
        assert headers["User-Agent"] == "APIMW-Webhooks/1.0"
        assert headers["Content-Type"] == "application/json"
        assert headers["X-APIMW-Event"]
        assert headers["X-APIMW-Delivery"]


def test_our_own_listen_receiver_passes_every_check() -> None:
    with own_receiver() as url:
        result = webhooks_test("--url", url, "--secret", SECRET)  # every event type
    assert result.exit_code == 0, result.stderr
    assert outcomes(result) == {c: "pass" for c in conformance.CHECKS} | {"https": "warn"}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_faulty_receiver_fails_exactly_its_check(
    fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_under_test(fault) as (url, _):
        result = suite(url)
    assert result.exit_code == 1, result.stdout + result.stderr
    got = outcomes(result)
    failing = {c for c, outcome in got.items() if outcome == "fail"}
    assert failing == {FAULTS[fault]}
    assert got["https"] == "warn"
    assert f"1 check(s) failed: {FAULTS[fault]}" in result.stderr


@contextmanager
def hanging_endpoint() -> Iterator[CaptureServer]:
    """An endpoint that never answers while the test runs (it lets go at the end)."""
    released = threading.Event()

    def hang(_request: Captured) -> capture.Reply:
        released.wait()
        return capture.Reply(200)

    try:
        with CaptureServer(hang, path="/hooks") as server:
            yield server
    finally:
        released.set()


def test_a_slow_endpoint_fails_every_check_it_answers_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """APIMW counts an answer after the limit as a failure: every check that sends fails, the
    first request of each times out and the rest are not sent (one wait per check)."""
    monkeypatch.setattr(conformance, "LATENCY_LIMIT", SLOW_LIMIT)
    with app_under_test("slow") as (url, server):
        result = suite(url)
        sent = len(server.requests)
    assert result.exit_code == 1, result.stdout + result.stderr
    rows = {row["check"]: row for row in json.loads(result.stdout)}
    for check in SENDING_CHECKS:
        assert rows[check]["result"] == "fail", rows[check]
        assert rows[check]["timed_out"] is True
        assert "timed out" in rows[check]["detail"]
        assert rows[check]["status"] == [None]
    assert "2 more request(s) not sent" in rows["latency"]["detail"]  # --requests 3
    assert sent == len(SENDING_CHECKS)
    assert f"timed out (no answer within {SLOW_LIMIT:g} s): " in result.stderr
    assert ", ".join(SENDING_CHECKS) in result.stderr


def test_a_hanging_endpoint_costs_one_wait_and_names_the_checks_that_timed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bounded by the number of sequential waits, not by a clock: each check stops after its
    first timeout, and the checks run at once (all their first requests are in flight
    together), so the run waits out the limit once."""
    monkeypatch.setattr(conformance, "LATENCY_LIMIT", SLOW_LIMIT)
    with hanging_endpoint() as server:
        result = webhooks_test("--url", server.url, "--secret", SECRET, "--requests", "5")
        in_flight = len(server.requests)  # none of them has been answered
    assert result.exit_code == 1, result.stdout + result.stderr
    assert in_flight == len(SENDING_CHECKS)
    rows = {row["check"]: row for row in json.loads(result.stdout)}
    assert [row["check"] for row in json.loads(result.stdout)] == list(conformance.CHECKS)
    for check in SENDING_CHECKS:
        assert rows[check]["result"] == "fail" and rows[check]["timed_out"], rows[check]
    assert rows["latency"]["detail"].startswith("1 of 1 over 0.2 s; 1 timed out")
    assert "4 more request(s) not sent after the timeout" in rows["latency"]["detail"]
    assert rows["https"]["result"] == "warn" and not rows["https"]["timed_out"]
    assert "ACCEPTS FORGED EVENTS" not in result.stderr  # it answered nothing at all


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_hanging_endpoint_with_the_real_limit_completes() -> None:
    """The real 5 s limit (the issue's `--requests 1` run took 1 min 42 s and passed `accepts`)."""
    with hanging_endpoint() as server:
        result = webhooks_test("--url", server.url, "--secret", SECRET, "--requests", "1")
    assert result.exit_code == 1, result.stdout + result.stderr
    rows = {row["check"]: row for row in json.loads(result.stdout)}
    assert rows["accepts"]["result"] == rows["latency"]["result"] == "fail"
    assert "1 timed out (no answer within 5 s)" in rows["latency"]["detail"]
    assert "timed out (no answer within 5 s)" in result.stderr


def test_accepting_forged_events_is_reported_prominently() -> None:
    with app_under_test("accepts-forged") as (url, _):
        json_result = suite(url, "--only", "rejects-forged")
        table = run(
            "webhooks", "test", "--url", url, "--secret", SECRET, "--only", "rejects-forged"
        )
    rows = {r["check"]: r for r in json.loads(json_result.stdout)}
    assert rows["rejects-forged"]["status"] == [200, 200, 200]
    assert "accepts forged events" in rows["rejects-forged"]["hint"]
    assert table.exit_code == 1
    assert "ACCEPTS FORGED EVENTS" in table.stderr
    assert "FAIL" in table.stdout and "accepts forged events" in table.stdout


def test_an_unreachable_endpoint_fails() -> None:
    result = webhooks_test(
        "--url", "http://127.0.0.1:9/", "--secret", SECRET, "--only", "challenge,accepts"
    )
    assert result.exit_code == 1
    got = outcomes(result)
    assert got["challenge"] == got["accepts"] == "fail"


# --- options -----------------------------------------------------------------------------


def test_junit_xml_has_one_testcase_per_check_and_the_failures(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    with app_under_test("not-idempotent") as (url, _):
        result = suite(url, "--junit", str(report), "--skip", "latency")
    assert result.exit_code == 1
    root = ET.fromstring(report.read_bytes())  # noqa: S314 (we just wrote it)
    suite_el = root.find("testsuite")
    assert suite_el is not None
    assert suite_el.get("tests") == str(len(conformance.CHECKS))
    assert suite_el.get("failures") == "1"
    assert suite_el.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite_el.iter("testcase")}
    assert set(cases) == set(conformance.CHECKS)
    failure = cases["idempotent"].find("failure")
    assert failure is not None
    assert "duplicate" in (failure.get("message") or "")
    assert cases["latency"].find("skipped") is not None
    assert all(cases[c].find("failure") is None for c in cases if c != "idempotent")


def test_only_and_skip_select_checks() -> None:
    with app_under_test("not-idempotent") as (url, seen):
        only = suite(url, "--only", "challenge", "--only", "https")
        skipped = suite(url, "--skip", "idempotent,latency")
    assert only.exit_code == 0, only.stderr
    got = outcomes(only)
    assert got["challenge"] == "pass" and got["https"] == "warn"
    assert {c for c, o in got.items() if o == "skip"} == set(conformance.CHECKS) - {
        "challenge",
        "https",
    }
    assert skipped.exit_code == 0, skipped.stderr
    assert outcomes(skipped)["idempotent"] == "skip"
    assert len(seen.requests) > 0


@pytest.mark.parametrize(
    "args",
    [
        ("--only", "nope"),
        ("--skip", "challenge,typo"),
        ("--only", "https", "--skip", "https"),
        ("--event", "message.nope"),
    ],
)
def test_bad_selections_are_usage_errors(args: tuple[str, ...]) -> None:
    result = run("webhooks", "test", "--url", "http://127.0.0.1:9/", "--secret", SECRET, *args)
    assert result.exit_code == 2, result.stderr


def test_secret_and_target_are_required_once(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/"
    assert run("webhooks", "test", "--url", url).exit_code == 2  # no secret
    assert run("webhooks", "test", "--secret", SECRET).exit_code == 2  # no target
    assert run("webhooks", "test", "whk_x", "--url", url, "--secret", SECRET).exit_code == 2
    both = run("webhooks", "test", "--url", url, "--secret", SECRET, "--secret-env", "X")
    assert both.exit_code == 2


def test_secret_from_env_and_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    with app_under_test() as (url, _):
        from_env = webhooks_test(
            "--url", url, "--secret-env", "HOOK_SECRET", "--only", "accepts",
            env={"HOOK_SECRET": SECRET},
        )  # fmt: skip
        from_file = webhooks_test(
            "--url", url, "--secret-file", str(secret_file), "--only", "accepts"
        )
    assert from_env.exit_code == 0, from_env.stderr
    assert from_file.exit_code == 0, from_file.stderr
    assert outcomes(from_file)["accepts"] == "pass"


def test_webhook_id_is_looked_up_through_the_sandbox(running_sandbox: RunningSandbox) -> None:
    with own_receiver() as url:
        registered = run(
            "--sandbox", "-o", "json", "webhooks", "register", "--url", url,
            "--events", "message.received,message.read", "--secret-env", "HOOK_SECRET",
            "--no-wait", env={"HOOK_SECRET": SECRET},
        )  # fmt: skip
        assert registered.exit_code == 0, registered.stderr
        webhook_id = json.loads(registered.stdout)["id"]
        result = run("--sandbox", "-o", "json", "webhooks", "test", webhook_id, "--secret", SECRET)
    assert result.exit_code == 0, result.stderr
    rows = {r["check"]: r for r in json.loads(result.stdout)}
    assert rows["accepts"]["status"] == [200, 200]  # one per subscribed type
    assert all(r["result"] in ("pass", "warn") for r in rows.values())


def test_an_unknown_webhook_id_fails_with_not_found(running_sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "webhooks", "test", "whk_missing", "--secret", SECRET)
    assert result.exit_code == 4, result.stderr


# --- the check logic, with a fake sender ---------------------------------------------------


def fake(status: int | None, *, tls: bool = False) -> conformance.Sender:
    def send(body: bytes, headers: Mapping[str, str]) -> Reply:
        return Reply(status, error="certificate verify failed" if tls else None, tls_error=tls)

    return send


def test_https_check() -> None:
    def target(url: str) -> Target:
        return Target(url, SECRET, ("message.sent",))

    assert conformance.check_https(target("http://localhost/"), fake(200)).outcome is Outcome.WARN
    assert conformance.check_https(target("http://[::1]:80/"), fake(200)).outcome is Outcome.WARN
    public = conformance.check_https(target("http://example.com/h"), fake(200))
    assert public.outcome is Outcome.FAIL
    bad_cert = conformance.check_https(target("https://example.com/h"), fake(None, tls=True))
    assert bad_cert.outcome is Outcome.FAIL and "TLS" in bad_cert.detail
    good = conformance.check_https(target("https://example.com/h"), fake(200))
    assert good.outcome is Outcome.PASS


def test_forged_rejected_with_another_4xx_only_warns() -> None:
    result = conformance.check_rejects_forged(Target("https://x.test/", SECRET, ()), fake(403))
    assert result.outcome is Outcome.WARN
    assert result.statuses == (403, 403, 403)


def test_latency_reports_percentiles(monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([0.01, 0.02, 0.03, 0.04, 0.05])

    def send(body: bytes, headers: Mapping[str, str]) -> Reply:
        return Reply(200, seconds=next(times))

    result = conformance.check_latency(Target("https://x.test/", SECRET, ("message.sent",)), send)
    assert result.outcome is Outcome.PASS
    assert result.detail.startswith("p50 30 ms, p95 50 ms, max 50 ms")
