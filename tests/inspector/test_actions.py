"""The inspector's replay (apimw_cli/inspector/actions.py): to the forward target through
receiver/replay.py, verbatim or re-signed, a replay line in the log and a new row linked to the
original; what a user can fix is refused with a message; the secret never shows."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.inspector.actions import ActionRefused, Actions, Source
from apimw_cli.inspector.logindex import LogIndex
from apimw_cli.models import Received, Verdict, VerdictCode
from apimw_cli.receiver import recorder as recorder_module
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.signing import sign
from tests.receiver.support import received
from tests.support.capture import CaptureServer, Reply

SECRET = "whsec_inspector_actions_test"


def event(n: int, **changes: Any) -> Received:
    body = b'{"type":"message.sent","n":%d}' % n
    headers = {
        "host": "abc.ngrok.app",
        "content-type": "application/json",
        "content-length": str(len(body)),
        "user-agent": "APIMW-Webhooks/1.0",
        "x-apimw-signature": sign(body, "whsec_the_old_one"),
        "x-apimw-delivery": f"dlv_{n}",
        "connection": "keep-alive",
        "accept-encoding": "gzip",
    }
    fields: dict[str, Any] = {
        "body": body,
        "headers": headers,
        "delivery_id": f"dlv_{n}",
        "verdict": Verdict(VerdictCode.MISMATCH, "no match"),
        "kind": "invalid",
        "status": 401,
    }
    fields.update(changes)
    return dataclasses.replace(received(n), **fields)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "session.jsonl"
    with Recorder(path) as recorder:
        recorder.write_request(event(1))
        recorder.write_request(event(2, headers={"x-odd": "a\r\nb"}))
    return path


def actions_for(log: Path, target: str | None, secret: str | None = SECRET) -> Actions:
    index = LogIndex(log)
    index.refresh()
    return Actions(
        index, Source(log=log, live=False, target=target, receive_url=None, secret=secret)
    )


def replay_lines(log: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["record"] == "replay"]


def test_a_verbatim_replay_sends_the_request_as_recorded(log: Path) -> None:
    reply = Reply(202, b'{"ok":true}', "application/json", {"X-App": "seen"})
    with CaptureServer(reply) as app:
        actions = actions_for(log, app.url)
        row = actions.replay(event(1).record_id, "verbatim")
        [got] = app.wait_requests(1)
    assert got.body == event(1).body
    assert got.header("x-apimw-signature") == event(1).headers["x-apimw-signature"]
    assert got.header("x-apimw-delivery") == "dlv_1"
    assert (
        got.header(
            "x-apimw-replayed-by",
        )
        is not None
    )
    assert got.header("accept-encoding") != "gzip" and got.header("host") != "abc.ngrok.app"
    assert row["kind"] == "replay" and row["replay_of"] == event(1).record_id
    assert row["mode"] == "verbatim" and row["note"] is None
    assert row["forwards"][0]["status"] == 202 and row["forward_state"] == "ok"
    assert row["delivery_id"] == "dlv_1"
    [line] = replay_lines(log)
    assert line["id"] == row["id"] and line["of"] == event(1).record_id
    assert line["status"] == 202 and line["response_body"] == '{"ok":true}'
    index = actions.index
    assert index.rows()[0]["id"] == row["id"]
    assert index.row(event(1).record_id)["replays"] == [row["id"]]  # type: ignore[index]
    detail = index.detail(row["id"])
    assert detail is not None
    assert ["X-App", "seen"] in detail["forwards"][0]["response_headers"]
    assert detail["forwards"][0]["response_body"]["text"] == '{"ok":true}'


def test_a_resigned_replay_carries_a_fresh_signature(log: Path) -> None:
    with CaptureServer() as app:
        row = actions_for(log, app.url).replay(event(1).record_id, "resigned")
        [got] = app.wait_requests(1)
    assert got.header("x-apimw-signature") == sign(event(1).body, SECRET)
    assert row["mode"] == "resigned"
    assert SECRET not in log.read_text() and SECRET not in json.dumps(row)


def test_replaying_a_replay_row_replays_its_original(log: Path) -> None:
    with CaptureServer() as app:
        actions = actions_for(log, app.url)
        first = actions.replay(event(1).record_id, "verbatim")
        second = actions.replay(first["id"], "verbatim")
        app.wait_requests(2)
    assert second["replay_of"] == event(1).record_id
    assert app.bodies() == [event(1).body, event(1).body]


def test_a_replay_the_app_does_not_answer_is_a_failed_row(log: Path) -> None:
    row = actions_for(log, "http://127.0.0.1:1/hook").replay(event(1).record_id, "verbatim")
    assert row["forwards"][0]["status"] is None
    assert row["forwards"][0]["error"] == "connection refused"
    assert row["forward_state"] == "failed"
    assert replay_lines(log)[0]["error"] == "connection refused"


def test_a_replay_the_log_cannot_take_is_kept_in_memory_with_a_note(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    with CaptureServer() as app:
        actions = actions_for(log, app.url)
        monkeypatch.setattr(recorder_module, "_os_write", full)
        row = actions.replay(event(1).record_id, "verbatim")
        app.wait_requests(1)
    assert row["note"] == "not recorded: No space left on device"
    assert replay_lines(log) == []
    assert actions.index.rows()[0]["id"] == row["id"]
    assert actions.index.detail(row["id"])["forwards"][0]["status"] == 200  # type: ignore[index]


def test_a_replay_into_a_listen_sessions_own_recorder(log: Path) -> None:
    index = LogIndex(log)
    index.refresh()
    with Recorder(log) as own, CaptureServer() as app:
        source = Source(log=log, live=True, target=app.url, receive_url=None, secret=None)
        row = Actions(index, source, recorder=own).replay(event(1).record_id, "verbatim")
    assert [line["id"] for line in replay_lines(log)] == [row["id"]]


@pytest.mark.parametrize(
    ("target", "secret", "record_id", "mode", "message", "status"),
    [
        (None, SECRET, "rec_000000000001", "verbatim", "no replay target", 409),
        ("http://127.0.0.1:1/", None, "rec_000000000001", "resigned", "no webhook secret", 409),
        ("http://127.0.0.1:1/", SECRET, "rec_nope", "verbatim", "no event 'rec_nope'", 404),
        ("http://127.0.0.1:1/", SECRET, "rec_000000000001", "twice", "mode must be one of", 409),
        (
            "http://127.0.0.1:1/",
            SECRET,
            "rec_000000000002",
            "verbatim",
            "cannot be sent as recorded: header 'x-odd' has a CR in its value",
            409,
        ),
    ],
)
def test_what_a_user_can_fix_is_refused_and_nothing_is_sent(
    log: Path,
    target: str | None,
    secret: str | None,
    record_id: str,
    mode: str,
    message: str,
    status: int,
) -> None:
    actions = actions_for(log, target, secret)
    with pytest.raises(ActionRefused) as refused:
        actions.replay(record_id, mode)
    assert message in refused.value.message and refused.value.status == status
    assert SECRET not in refused.value.message
    assert replay_lines(log) == []


def test_a_line_that_cannot_be_read_back_is_refused(log: Path) -> None:
    actions = actions_for(log, "http://127.0.0.1:1/")
    log.write_bytes(b"")  # gone under the index's feet (it has not refreshed)
    with pytest.raises(ActionRefused, match="cannot be read back"):
        actions.replay(event(1).record_id, "verbatim")


def test_the_source_never_shows_its_secret() -> None:
    source = Source(log=Path("x"), live=False, target=None, receive_url=None, secret=SECRET)
    assert SECRET not in repr(source)


def test_a_replay_when_the_log_is_gone_is_kept_in_memory_not_written_anew(log: Path) -> None:
    with CaptureServer() as app:
        actions = actions_for(log, app.url)
        assert actions.index.detail(event(1).record_id) is not None  # the page showed it
        log.unlink()  # then the log was removed (retention, or by hand)
        row = actions.replay(event(1).record_id, "verbatim")
    assert row["note"] == "not recorded: session.jsonl is gone"
    assert not log.exists()
    assert row["replay_of"] == event(1).record_id and row["forward_state"] == "ok"


def test_a_replay_of_a_request_whose_log_is_gone_is_refused(log: Path) -> None:
    actions = actions_for(log, "http://127.0.0.1:1/")
    log.unlink()
    with pytest.raises(ActionRefused, match="cannot be read back"):
        actions.replay(event(1).record_id, "verbatim")
    assert not log.exists()
