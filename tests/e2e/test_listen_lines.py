"""Every live line names its event, retries are called retries, and stopping is honest: the
forwards APIMW already got a 200 for are finished (or the way to send them again is given)."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apimw_cli.models import Forwarded, Received
from apimw_cli.output.live import LiveView, short_id
from apimw_cli.output.printer import Printer
from apimw_cli.receiver.events import ReceiverConfig, Respond
from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.settings import ENV_EVENTS
from tests.e2e.listen_process import start_listen, stop
from tests.e2e.test_listen_cli import api_token
from tests.receiver.support import (
    SECRET,
    AppBehaviour,
    LocalApp,
    event_body,
    live_receiver,
    signed_headers,
)
from tests.support.waiting import wait_for


def render(*records: Received | Forwarded) -> list[str]:
    out = io.StringIO()
    view = LiveView(Printer(stdout=out, stderr=io.StringIO()), ndjson=False)
    for record in records:
        view.show(record)
    return out.getvalue().splitlines()


def event(n: int, delivery: str | None, **fields: object) -> Received:
    values: dict[str, object] = {
        "record_id": f"rec_{n:012x}", "received_at": 0.0, "method": "POST", "path": "/",
        "headers": {}, "body": event_body(n=n), "status": 200, "kind": "event",
        "event_type": "message.sent", "delivery_id": delivery, **fields,
    }  # fmt: skip
    return Received(**values)  # type: ignore[arg-type]


def test_forward_lines_carry_their_events_label_even_interleaved() -> None:
    lines = render(
        event(1, "dlv_aaaaaaaa1111"),
        event(2, "dlv_bbbbbbbb2222"),
        Forwarded("rec_000000000002", "http://fast/h", 200, 3.0),
        Forwarded("rec_000000000001", "http://slow/h", None, 2000.0, "timed out after 2s"),
        Forwarded("rec_000000000001", "http://fast/h", 200, 3.0),
    )
    assert lines[0].endswith("[dlv_aaaaaaaa]") and lines[1].endswith("[dlv_bbbbbbbb]")
    assert "fast" in lines[2] and lines[2].endswith("[dlv_bbbbbbbb]")
    assert "timed out" in lines[3] and lines[3].endswith("[dlv_aaaaaaaa]")
    assert lines[4].endswith("[dlv_aaaaaaaa]")


def test_an_event_without_a_delivery_id_is_named_by_its_record_id() -> None:
    lines = render(event(7, None), Forwarded("rec_000000000007", "http://app/h", 200, 1.0))
    assert lines[0].endswith(f"[{short_id('rec_000000000007')}]")
    assert lines[1].endswith(f"[{short_id('rec_000000000007')}]")


def test_a_retry_after_a_500_is_a_retry_and_shows_what_apimw_got() -> None:
    config = ReceiverConfig(port=0, secrets=(SECRET,), respond=Respond.FIXED, status=500)
    with live_receiver(config) as live:
        body = event_body(n=1)
        first = live.post(body, delivery="dlv_retry0001")
        second = live.post(body, delivery="dlv_retry0001")
        assert first.status_code == second.status_code == 500
        retried = live.received_for(second)
        assert (retried.attempt, retried.duplicate, retried.previous_status) == (2, True, 500)
    line = render(retried)[0]
    assert "retry 2" in line and "answered 500" in line and "acknowledged" not in line


def test_a_true_duplicate_says_it_was_acknowledged_before() -> None:
    config = ReceiverConfig(port=0, secrets=(SECRET,))
    with live_receiver(config) as live:
        body = event_body(n=1)
        live.post(body, delivery="dlv_dup00001")
        again = live.received_for(live.post(body, delivery="dlv_dup00001"))
    assert (again.attempt, again.duplicate, again.previous_status) == (2, True, 200)
    assert "acknowledged before" in render(again)[0]


def test_a_failed_attempt_is_forwarded_again_and_numbered() -> None:
    with LocalApp(AppBehaviour(statuses=[500])) as app:
        config = ReceiverConfig(
            port=0, secrets=(SECRET,), respond=Respond.PASSTHROUGH, forward_to=(app.url,)
        )
        with live_receiver(config) as live:
            body = event_body(n=1)
            assert live.post(body, delivery="dlv_pass0001").status_code == 500
            retry = live.post(body, delivery="dlv_pass0001")
            assert retry.status_code == 200
            report = live.received_for(retry)
    assert (report.attempt, report.duplicate) == (2, False)
    assert "(retry 2)" in render(report)[0]
    assert len(app.hits) == 2


@pytest.mark.slow
def test_stopping_finishes_the_forwards_already_acknowledged(tmp_path: Path) -> None:
    with LocalApp(AppBehaviour(delay=lambda n: 0.3)) as app:
        proc, url = start_listen(
            tmp_path, "--no-tunnel", "--secret", SECRET, "--forward-to", app.url,
            "--record", str(tmp_path / "s.jsonl"), "--format", "ndjson",
        )  # fmt: skip
        with httpx.Client() as client:
            for n in range(10):
                body = event_body(n=n)
                answer = client.post(url, content=body, headers=signed_headers(body))
                assert answer.status_code == 200
        out, err = stop(proc, signal.SIGINT)
        assert proc.returncode == 0, err
        assert len(app.hits) == 10
    records = [json.loads(line) for line in out.splitlines()]
    assert any(r.get("finishing") for r in records if r["record"] == "note")
    summary = records[-1]
    assert summary["record"] == "summary" and summary["forwarded"] == 10
    assert summary["forward_failures"] == 0


@pytest.mark.slow
def test_a_timeout_run_with_failed_forwards_exits_1_and_gives_the_replay_command(
    tmp_path: Path,
) -> None:
    with LocalApp(AppBehaviour(status=500)) as app:
        ready = tmp_path / "ready"
        proc = subprocess.Popen(
            [sys.executable, "-m", "apimw_cli", "listen", "--no-tunnel", "--port", "0",
             "--secret", SECRET, "--forward-to", app.url, "--timeout", "3s",
             "--ready-file", str(ready), "--record", str(tmp_path / "s.jsonl")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: ready.exists() and ready.read_text().strip(), 30, "ready")
            url = ready.read_text().strip()
            with httpx.Client() as client:
                for n in range(4):
                    body = event_body(n=n)
                    client.post(url, content=body, headers=signed_headers(body))
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 1, err
    assert "4 forward(s) failed" in err
    assert "apimw events replay --failed --to" in err and "s.jsonl" in err


def _interleaved_session(tmp_path: Path, fmt: str) -> tuple[str, set[str]]:
    slow = LocalApp(AppBehaviour(delay=lambda n: 0.4 if n % 2 == 0 else 0.0))
    fast = LocalApp()
    with slow, fast:
        proc, url = start_listen(
            tmp_path, "--no-tunnel", "--secret", SECRET, "--forward-to", slow.url,
            "--forward-to", fast.url, "--concurrency", "4", "--no-record", "--format", fmt,
        )  # fmt: skip
        with httpx.Client() as client:
            for n in range(12):
                body = event_body(n=n)
                headers = signed_headers(body, delivery=f"dlv_{n:02d}interleave")
                assert client.post(url, content=body, headers=headers).status_code == 200
        slow.wait_hits(12, timeout=20)
        fast.wait_hits(12, timeout=20)
        out, err = stop(proc, signal.SIGTERM)
        assert proc.returncode == 0, err
    return out, {slow.url, fast.url}


def test_interleaved_forwards_are_matched_to_their_events_in_the_live_view(
    tmp_path: Path,
) -> None:
    out, targets = _interleaved_session(tmp_path, "pretty")
    lines = out.splitlines()
    events = {line.rsplit("[", 1)[1].rstrip("]") for line in lines if "→ message.sent" in line}
    forwards = [line for line in lines if "↳" in line]
    assert len(events) == 12 and len(forwards) == 24
    for line in forwards:
        assert line.rsplit("[", 1)[1].rstrip("]") in events, line
    # Each event has one result per target, wherever they were printed.
    for label in events:
        mine = [line for line in forwards if line.endswith(f"[{label}]")]
        assert len(mine) == 2
        assert {t for t in targets for m in mine if f" {t} " in m} == targets


def test_interleaved_forwards_are_matched_to_their_events_in_ndjson(tmp_path: Path) -> None:
    out, _ = _interleaved_session(tmp_path, "ndjson")
    records = [json.loads(line) for line in out.splitlines()]
    ids = {r["id"]: r["delivery_id"] for r in records if r["record"] == "event"}
    forwards = [r for r in records if r["record"] == "forward"]
    assert len(ids) == 12 and len(forwards) == 24
    assert {f["id"] for f in forwards} == set(ids)


def test_listen_subscribes_to_default_events_without_events(
    running_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_EVENTS, "message.read")
    proc, _ = start_listen(tmp_path, "--sandbox", "--format", "ndjson")
    try:
        token = api_token(running_sandbox.base_url)
        listed = httpx.get(
            f"{running_sandbox.base_url}/webhooks", headers={"Authorization": f"Bearer {token}"}
        ).json()["data"]
    finally:
        stop(proc, signal.SIGTERM)
    listed = listed["webhooks"] if isinstance(listed, dict) else listed
    assert [w["events"] for w in listed] == [["message.read"]]


def test_an_invalid_default_events_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_EVENTS, "message.recieved")
    done = subprocess.run(
        [sys.executable, "-m", "apimw_cli", "listen", "--no-tunnel", "--skip-verify"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode in (2, 3), done.stderr
    assert ENV_EVENTS in done.stderr and "message.received" in done.stderr


def test_a_second_ctrl_c_stops_without_the_queued_forwards_and_says_how_to_resend(
    tmp_path: Path,
) -> None:
    with LocalApp(AppBehaviour(hang=True)) as app:
        proc, url = start_listen(
            tmp_path, "--no-tunnel", "--secret", SECRET, "--forward-to", app.url,
            "--record", str(tmp_path / "s.jsonl"), "--format", "ndjson",
        )  # fmt: skip
        with httpx.Client() as client:
            for n in range(5):
                body = event_body(n=n)
                assert client.post(url, content=body, headers=signed_headers(body)).status_code
        app.wait_hits(1)
        assert proc.stdout is not None
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: "finishing" in proc.stdout.readline(), 20, "the finishing note")  # type: ignore[union-attr]
        out, err = stop(proc, signal.SIGINT)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    summary = next(r for r in records if r["record"] == "summary")
    assert summary["forward_failures"] == 5 and summary["forwarded"] == 0
    replay = [r for r in records if r["record"] == "note" and r.get("replay")]
    assert replay and "apimw events replay --failed --to" in replay[0]["message"]


def test_consecutive_record_ids_get_distinct_labels() -> None:
    from apimw_cli.receiver.app import new_record_id

    first, second = new_record_id(), new_record_id()
    assert short_id(first) != short_id(second)
    assert short_id("dlv_3f2a9c1b77aa") == "dlv_3f2a9c1b"


def test_a_ctrl_c_in_the_middle_of_a_batch_loses_none_of_it() -> None:
    from apimw_cli.receiver.feed import Feed
    from apimw_cli.session.screen import Screen

    shown: list[str] = []

    class View(LiveView):
        interrupt_at = 2

        def show(self, record: Received | Forwarded) -> None:
            if len(shown) == self.interrupt_at:
                self.interrupt_at = -1
                raise KeyboardInterrupt
            shown.append(record.record_id)

    feed = Feed()
    for n in range(5):
        feed(event(n, None))
    screen = Screen(View(Printer(stdout=io.StringIO()), ndjson=True), feed)
    with pytest.raises(KeyboardInterrupt):
        screen.catch_up()
    while screen.catch_up():
        pass
    assert shown == [f"rec_{n:012x}" for n in range(5)]
