"""`apimw listen` end to end: a real process, the sandbox, a local app, signals, CI mode."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET
from apimw_cli.signing import sign
from tests.e2e.listen_process import start_listen, stop
from tests.support.capture import CaptureServer
from tests.support.cli import run
from tests.support.waiting import wait_for


@pytest.fixture
def app() -> Iterator[CaptureServer]:
    """A local app that records what `listen` forwards and answers 200."""
    with CaptureServer(path="/hooks") as local:
        yield local


def api_token(base_url: str) -> str:
    answer = httpx.post(
        f"{base_url}/auth/token",
        json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET},
    )
    return str(answer.json()["data"]["access_token"])


def records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_listen_receives_message_status_events_verified_and_forwards_them(
    running_sandbox: RunningSandbox, app: CaptureServer, tmp_path: Path
) -> None:
    # The customer wrote first (before listen's webhook exists): the 24-hour window is open.
    httpx.post(
        f"{running_sandbox.base_url}/sandbox/inbound",
        json={"from": "+14155550123", "text": "hi"},
        headers={"Authorization": f"Bearer {api_token(running_sandbox.base_url)}"},
    ).raise_for_status()
    proc, _ = start_listen(
        tmp_path, "--sandbox", "--format", "ndjson", "--forward-to", app.url,
        "--events", "message.*",
    )  # fmt: skip
    try:
        sent = run(
            "--sandbox", "-o", "json", "messages", "send", "--to", "+14155550123", "--text", "hi"
        )
        assert sent.exit_code == 0, sent.stderr
        wait_for(lambda: len(app.requests) >= 3, timeout=20.0, what="three forwarded events")
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err
    lines = records(out)
    events = [r for r in lines if r["record"] == "event"]
    # The sandbox has several attempts in flight per webhook (APIMW promises no order), so
    # the three may arrive in any order; the app gets them in the order listen received them.
    statuses = {"message.sent", "message.delivered", "message.read"}
    assert {e["type"] for e in events[:3]} == statuses
    assert all(e["verdict"]["valid"] for e in events)
    forwarded = [request.payload["type"] for request in app.requests][:3]
    assert forwarded == [e["type"] for e in events[:3]]
    assert lines[-1]["record"] == "summary"
    assert lines[-1]["events"]["message.read"] == 1


def test_listen_deletes_its_temporary_webhook_on_sigterm(
    running_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    proc, _ = start_listen(tmp_path, "--sandbox", "--format", "ndjson")
    bearer = {"Authorization": f"Bearer {api_token(running_sandbox.base_url)}"}
    listed = httpx.get(f"{running_sandbox.base_url}/webhooks", headers=bearer).json()["data"]
    listed = listed["webhooks"] if isinstance(listed, dict) else listed
    assert len(listed) == 1 and "/webhooks/apimw-listen-" in listed[0]["url"]
    assert "apimw listen (temporary)" in listed[0]["description"]  # for humans; optional
    assert listed[0]["verified"] in (True, None)
    out, err = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    after = httpx.get(f"{running_sandbox.base_url}/webhooks", headers=bearer).json()["data"]
    assert (after["webhooks"] if isinstance(after, dict) else after) == []
    assert any(r["record"] == "summary" for r in records(out))


def test_expect_exits_zero_once_met_and_writes_a_report(
    running_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    proc, _ = start_listen(
        tmp_path, "--sandbox", "--format", "ndjson", "--expect", "message.received:2",
        "--timeout", "30s", "--report", str(report),
    )  # fmt: skip
    bearer = {"Authorization": f"Bearer {api_token(running_sandbox.base_url)}"}
    for text in ("one", "two"):
        httpx.post(
            f"{running_sandbox.base_url}/sandbox/inbound",
            json={"from": "+14155550123", "text": text},
            headers=bearer,
        ).raise_for_status()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    data = json.loads(report.read_text())
    assert data["outcome"] == "passed"
    assert data["expectations"] == {"message.received": {"expected": 2, "received": 2}}


def test_expect_times_out_listing_what_is_missing(
    running_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    result = run(
        "--sandbox", "listen", "--port", "0", "--expect", "quota.exceeded", "--timeout", "1s"
    )
    assert result.exit_code == 1
    assert "timed out waiting for quota.exceeded (0 of 1)" in result.stderr


def test_expect_fails_on_an_invalid_signature(tmp_path: Path) -> None:
    proc, url = start_listen(
        tmp_path, "--no-tunnel", "--secret", "whsec_right", "--expect", "message.sent",
        "--timeout", "20s",
    )  # fmt: skip
    body = b'{"type":"message.sent","timestamp":"2024-01-01T00:00:00Z","data":{}}'
    answer = httpx.post(url, content=body, headers={"X-APIMW-Signature": sign(body, "whsec_wrong")})
    assert answer.status_code == 401
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 8, err
    assert "invalid signature" in err


def test_no_tunnel_without_secret_needs_skip_verify() -> None:
    result = run("listen", "--no-tunnel", "--port", "0")
    assert result.exit_code == 2
    assert "--skip-verify" in result.stderr


def test_bad_options_are_usage_errors() -> None:
    assert run("listen", "--sandbox", "--respond", "maybe").exit_code == 2
    assert run("listen", "--sandbox", "--timeout", "soon").exit_code == 2
    assert run("listen", "--sandbox", "--expect", "message.redd").exit_code == 2
    assert run("listen", "--demo", "--no-tunnel", "--skip-verify").exit_code == 2


def test_replay_sends_recorded_events_again(
    running_sandbox: RunningSandbox, app: CaptureServer, tmp_path: Path
) -> None:
    session = tmp_path / "session.jsonl"
    proc, url = start_listen(
        tmp_path,
        "--no-tunnel",
        "--secret",
        "whsec_s",
        "--record",
        str(session),
        "--format",
        "ndjson",
    )
    body = b'{"type":"message.received","timestamp":"2024-01-01T00:00:00Z","data":{"text":"hi"}}'
    headers = {"X-APIMW-Signature": sign(body, "whsec_s"), "X-APIMW-Delivery": "dlv_1"}
    assert httpx.post(url, content=body, headers=headers).status_code == 200
    stop(proc)
    verbatim = run("events", "replay", str(session), "--to", app.url, "--verbatim")
    assert verbatim.exit_code == 0, verbatim.stderr
    resigned = run("events", "replay", str(session), "--to", app.url, "--resign", "whsec_new")
    assert resigned.exit_code == 0, resigned.stderr
    first, second = app.requests
    assert first.body == body and second.body == body
    assert first.headers["x-apimw-signature"] == headers["X-APIMW-Signature"]
    assert second.headers["x-apimw-signature"] == sign(body, "whsec_new")
    assert first.headers["x-apimw-delivery"] == "dlv_1"
    assert "x-apimw-replayed-by" in first.headers
    logged = run("-o", "json", "events", "log", str(session))
    assert [r["type"] for r in json.loads(logged.stdout)] == ["message.received"]


def test_a_signal_mid_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    from apimw_cli.receiver.recorder import read_records

    session = tmp_path / "session.jsonl"
    proc, url = start_listen(
        tmp_path,
        "--no-tunnel",
        "--secret",
        "whsec_s",
        "--record",
        str(session),
        "--format",
        "ndjson",
    )
    acknowledged: list[str] = []

    def fire() -> None:
        with httpx.Client(timeout=5) as http:
            for n in range(400):
                body = json.dumps({"type": "message.sent", "data": {"n": n}}).encode()
                headers = {"X-APIMW-Signature": sign(body, "whsec_s"), "X-APIMW-Delivery": f"d{n}"}
                try:
                    if http.post(url, content=body, headers=headers).status_code == 200:
                        acknowledged.append(f"d{n}")
                except httpx.HTTPError:
                    return  # the receiver has stopped accepting

    sender = threading.Thread(target=fire)
    sender.start()
    wait_for(lambda: len(acknowledged) >= 20, timeout=20.0, what="some acknowledged events")
    proc.send_signal(signal.SIGTERM)
    sender.join(30)
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    recorded = {r["delivery_id"] for r in read_records(session) if r.get("record") == "request"}
    assert acknowledged and set(acknowledged) <= recorded
