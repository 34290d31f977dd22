"""The app's answer in forward lines, the inspector's replay lines, and the readers of a session
log (`apimw events log/show/replay`, sessions.py) on logs that hold both."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.models import Forwarded
from apimw_cli.receiver import sessions
from apimw_cli.receiver.recorder import (
    RESPONSE_BODY_LIMIT,
    Recorder,
    forward_record,
    read_records,
    replay_record,
)
from apimw_cli.receiver.replay import RESPONSE_LIMIT, client, replay
from apimw_cli.signing import sign
from tests.receiver.support import SECRET, RawApp, event_body
from tests.support.capture import CaptureServer, Reply
from tests.support.cli import run


def forwarded(body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> Forwarded:
    return Forwarded(
        "rec_000000000001", "http://u:pw@127.0.0.1:9/hook", 201, 1.5, None, body, headers
    )


def test_a_forward_line_keeps_the_apps_answer_headers_and_text_body() -> None:
    record = forward_record(forwarded(b'{"ok":true}', (("Content-Type", "application/json"),)), 1.0)
    assert json.loads(json.dumps(record))["response_headers"] == [
        ["Content-Type", "application/json"]
    ]
    assert record["response_body"] == '{"ok":true}'
    assert "response_body_b64" not in record and "response_truncated" not in record
    assert record["target"] == "http://u:***@127.0.0.1:9/hook"


def test_a_binary_answer_is_kept_as_base64() -> None:
    record = forward_record(forwarded(b"\xff\x00\xfe"), 1.0)
    assert base64.b64decode(record["response_body_b64"]) == b"\xff\x00\xfe"
    assert "response_body" not in record


def test_a_cut_answer_says_so_and_more_than_the_cap_is_never_written() -> None:
    whole = forward_record(forwarded(b"a" * RESPONSE_BODY_LIMIT), 1.0)
    assert "response_truncated" not in whole
    cut = dataclasses.replace(forwarded(b"a" * RESPONSE_BODY_LIMIT), response_truncated=True)
    assert forward_record(cut, 1.0)["response_truncated"] is True
    over = forward_record(forwarded(b"b" * (RESPONSE_BODY_LIMIT + 10)), 1.0)
    assert over["response_truncated"] is True and len(over["response_body"]) == RESPONSE_BODY_LIMIT


def test_a_forward_line_with_an_answer_is_written_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with Recorder(path) as recorder:
        recorder.write_forward(forwarded(b"caf\xc3\xa9", (("X-\u00e9", "\u00ff"),)), at=2.0)
    [line] = read_records(path)
    assert line["response_headers"] == [["X-\u00e9", "\u00ff"]]
    assert line["response_body"] == "café"


def test_a_replay_line_is_written_whole_and_masks_the_target(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    record = replay_record(
        record_id="rec_00000000beef",
        of="rec_000000000001",
        mode="resigned",
        target="http://user:secret@127.0.0.1:1/x",
        status=None,
        ms=3.25,
        error="connection refused to http://user:secret@127.0.0.1:1/x",
        response_body=b"\x80" * (RESPONSE_BODY_LIMIT + 1),
        at=5.0,
    )
    with Recorder(path) as recorder:
        recorder.write_record(record)
    assert path.read_bytes().count(b"\n") == 1
    [line] = read_records(path)
    assert line["record"] == "replay" and line["of"] == "rec_000000000001"
    assert line["mode"] == "resigned" and line["at"] == 5.0
    assert "secret" not in path.read_text()
    assert line["response_truncated"] is True
    assert len(base64.b64decode(line["response_body_b64"])) == RESPONSE_BODY_LIMIT


# --------------------------------------------------------------------------- the readers


def request(n: int) -> dict[str, Any]:
    body = event_body(n=n)
    return {
        "schema": 2,
        "record": "request",
        "id": f"rec_{n:012x}",
        "received_at": 1700000000.0 + n,
        "method": "POST",
        "path": "/",
        "headers": {
            "content-type": "application/json",
            "x-apimw-signature": sign(body, SECRET),
            "x-apimw-delivery": f"dlv_{n}",
        },
        "body": body.decode(),
        "event_type": "message.sent",
        "delivery_id": f"dlv_{n}",
        "kind": "event",
        "status": 200,
        "duplicate": False,
        "verdict": {"code": "valid", "reason": "", "diagnosis": None, "matched_secret": 0},
    }


def mixed_session(path: Path) -> Path:
    """Two requests, a forward line with an answer, and replay lines (one of a replay's id)."""
    forward = {
        **forward_record(forwarded(b"\xff answer", (("X-A", "1"),)), 1.0),
        "id": request(1)["id"],
    }
    replay_line = replay_record(
        record_id="rec_00000000aaaa",
        of=request(1)["id"],
        mode="verbatim",
        target="http://127.0.0.1:1/",
        status=200,
        ms=1.0,
        error=None,
        response_headers=(("X-B", "2"),),
        response_body=b"ok",
    )
    lines = [request(1), forward, replay_line, request(2), {**replay_line, "id": "rec_bbbb"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_sessions_load_skips_replay_lines_and_keeps_forwards(tmp_path: Path) -> None:
    warnings: list[str] = []
    requests, forwards = sessions.load(mixed_session(tmp_path / "s.jsonl"), warnings.append)
    assert [r["id"] for r in requests] == [request(1)["id"], request(2)["id"]]
    assert [f["status"] for f in forwards[request(1)["id"]]] == [201]
    assert warnings == []


def test_events_log_and_show_read_a_log_with_replay_lines(tmp_path: Path) -> None:
    session = mixed_session(tmp_path / "s.jsonl")
    result = run("-o", "json", "events", "log", str(session))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == [request(1)["id"], request(2)["id"]]
    assert rows[0]["forwards"] == [
        {"target": forwarded().target.replace("pw", "***"), "status": 201, "error": None}
    ]
    assert "skipped" not in result.stderr
    shown = run("-o", "json", "events", "show", request(1)["id"], str(session))
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["forwards"][0]["status"] == 201
    view = run("events", "show", request(1)["id"], str(session))
    assert view.exit_code == 0, view.output
    assert run("events", "show", "rec_00000000aaaa", str(session)).exit_code == 2  # not a request


def test_events_replay_sends_the_requests_of_a_log_with_replay_lines(tmp_path: Path) -> None:
    session = mixed_session(tmp_path / "s.jsonl")
    with RawApp() as app:
        result = run("events", "replay", "--all", str(session), "--to", app.url)
        assert result.exit_code == 0, result.output
        assert app.bodies() == [event_body(n=1), event_body(n=2)]


# --------------------------------------------------------------------------- replay's answer


def test_a_replay_result_carries_the_apps_answer() -> None:
    reply = Reply(202, b'{"seen":1}', "application/json", {"X-App": "yes"})
    with CaptureServer(reply) as app, client(5.0) as http:
        result = replay(http, app.url, "rec_1", b"{}", {"content-type": "application/json"})
    assert result.status == 202
    assert ("X-App", "yes") in result.response_headers
    assert ("Content-Type", "application/json") in result.response_headers
    assert result.response_body == b'{"seen":1}' and not result.response_truncated


@pytest.mark.parametrize("size", [RESPONSE_LIMIT, RESPONSE_LIMIT + 1, 5 * RESPONSE_LIMIT])
def test_a_replay_keeps_at_most_the_cap_of_the_answer(size: int) -> None:
    with CaptureServer(Reply(200, b"z" * size)) as app, client(5.0) as http:
        result = replay(http, app.url, "rec_1", b"{}", {})
    assert result.response_body == b"z" * min(size, RESPONSE_LIMIT)
    assert result.response_truncated == (size > RESPONSE_LIMIT)


def test_a_failed_replay_has_no_answer() -> None:
    with client(2.0) as http:
        result = replay(http, "http://127.0.0.1:1/", "rec_1", b"{}", {})
    assert result.status is None and result.failure == "connect"
    assert result.response_headers == () and result.response_body == b""
