"""`apimw events show REC_ID [FILE]`: one recorded request, from a session the real receiver
recorded (headers, body, signature verdict, forwards), as a view, as JSON and as raw bytes;
and `events show TYPE`, which still prints a sample payload.

A session file is untrusted input: the last tests give it hostile content and check that what
is shown is escaped and that nothing ends in a traceback.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.settings import sessions_dir
from tests.receiver.support import SECRET, LocalApp, event_body, live_receiver, records_of
from tests.support.cli import run

NOT_UTF8 = b"\xff\xfe\x00 not \x1b[2J UTF-8 \x80\xc3("
NOT_JSON = "plain text\twith a tab\nand a second line"


@dataclass(frozen=True)
class Session:
    path: Path
    app_url: str
    ids: list[str]  # in the order the bodies were sent
    bodies: list[bytes]

    def records(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in records_of(self.path, "request")}


def record_session(path: Path, bodies: list[bytes], secret: str | None = SECRET) -> Session:
    """POST each body (signed with `secret`) to a real receiver that records to `path` and
    forwards to a local app; returns once the receiver has stopped (every forward recorded)."""
    ids: list[str] = []
    with LocalApp() as app:
        config = ReceiverConfig(port=0, secrets=(SECRET,), record=path, forward_to=(app.url,))
        with live_receiver(config) as live:
            for n, body in enumerate(bodies):
                response = live.post(body, secret=secret, delivery=f"dlv_show_{n}")
                ids.append(live.received_for(response).record_id)
    return Session(path, app.url, ids, bodies)


@pytest.fixture
def session() -> Session:
    """The latest session: a valid JSON event, a body that is not UTF-8, one that is not JSON."""
    return record_session(
        sessions_dir() / "latest.jsonl",
        [event_body(n=1, text="héllo ✓"), NOT_UTF8, NOT_JSON.encode()],
    )


def show(*args: str) -> Result:
    return run("events", "show", *args)


def show_json(*args: str) -> dict[str, Any]:
    result = run("-o", "json", "events", "show", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# --------------------------------------------------------------------------- the view


def test_show_a_recorded_event_headers_body_verdict_and_forwards(session: Session) -> None:
    result = show(session.ids[0])

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == session.ids[0]
    assert f"session {session.path}" in result.stderr
    # the summary
    assert "type       message.sent" in out
    assert "delivery   dlv_show_0" in out
    assert "signature  valid: The signature matches" in out
    # the headers, a table
    assert "NAME" in out and "VALUE" in out
    assert any(line.split()[:2] == ["x-apimw-delivery", "dlv_show_0"] for line in out.splitlines())
    # the body, indented JSON, its size in bytes (UTF-8: more bytes than characters)
    size = len(session.bodies[0])
    assert f"body ({size} bytes, JSON)" in out
    assert '  "type": "message.sent",' in out
    assert '    "text": "héllo ✓"' in out
    # the forward
    [forward] = [line for line in out.splitlines() if line.startswith(session.app_url)]
    assert forward.split()[1] == "200"


def test_a_body_that_is_not_json_is_shown_as_text_with_controls_escaped(
    session: Session,
) -> None:
    result = show(session.ids[2])

    assert result.exit_code == 0, result.stderr
    assert f"body ({len(NOT_JSON)} bytes, text)" in result.stdout
    assert "plain text\\twith a tab\nand a second line" in result.stdout  # the LF is kept


def test_a_body_that_is_not_utf8_shows_its_bytes_escaped(session: Session) -> None:
    result = show(session.ids[1])

    assert result.exit_code == 0, result.stderr
    assert f"body ({len(NOT_UTF8)} bytes, not UTF-8" in result.stdout
    assert "\\xff\\xfe\\x00 not \\x1b[2J UTF-8 \\x80\\xc3(" in result.stdout
    assert "\x1b" not in result.stdout and "\x00" not in result.stdout


def test_a_request_with_a_bad_signature_shows_the_verdict(tmp_path: Path) -> None:
    recorded = record_session(tmp_path / "bad.jsonl", [event_body(n=9)], secret="whsec_other")

    result = show(recorded.ids[0], str(recorded.path))

    assert result.exit_code == 0, result.stderr
    assert "signature  mismatch: " in result.stdout
    assert "answered   401" in result.stdout
    assert "forwards: none" in result.stdout


# --------------------------------------------------------------------------- JSON and raw


def test_json_gives_a_text_body_exactly_as_recorded(session: Session) -> None:
    data = show_json(session.ids[0])

    record = session.records()[session.ids[0]]
    assert data["id"] == session.ids[0]
    assert data["session"] == str(session.path)
    assert data["body"].encode("utf-8") == session.bodies[0]
    assert "body_b64" not in data
    assert data["size"] == len(session.bodies[0])
    assert data["body_error"] is None
    assert data["headers"] == record["headers"]
    assert data["verdict"] == record["verdict"]
    assert data["verdict"]["code"] == "valid"
    for key in ("received_at", "method", "path", "event_type", "kind", "status", "duplicate"):
        assert data[key] == record[key], key
    assert data["delivery_id"] == "dlv_show_0"
    [forward] = data["forwards"]
    assert forward["target"] == session.app_url
    assert forward["status"] == 200
    assert forward["error"] is None
    assert isinstance(forward["ms"], float)


def test_json_gives_a_binary_body_as_base64(session: Session) -> None:
    data = show_json(session.ids[1])

    assert "body" not in data
    assert base64.b64decode(data["body_b64"]) == NOT_UTF8
    assert data["size"] == len(NOT_UTF8)


@pytest.mark.parametrize("which", [0, 1, 2], ids=["json", "not-utf8", "text"])
def test_raw_writes_the_exact_body_bytes_and_nothing_else(session: Session, which: int) -> None:
    result = show(session.ids[which], "--raw")

    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == session.bodies[which]


def test_raw_wins_over_a_json_output_setting(session: Session) -> None:
    result = run("-o", "json", "events", "show", session.ids[1], "--raw")

    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == NOT_UTF8


# --------------------------------------------------------------------------- finding the id


def test_a_unique_prefix_finds_the_request(session: Session) -> None:
    # The receiver's ids count up, so those of one run share all but their last digits; ids of
    # separate runs (appended to one --record file) differ early. Here: a record appended.
    copy = {**session.records()[session.ids[1]], "id": "rec_zz0123456789"}
    with session.path.open("ab") as file:
        file.write(json.dumps(copy).encode("ascii") + b"\n")

    data = show_json("rec_zz")
    assert data["id"] == "rec_zz0123456789"
    assert base64.b64decode(data["body_b64"]) == NOT_UTF8
    assert show("rec_zz01", "--raw").stdout_bytes == NOT_UTF8
    # the whole id is a prefix of itself, of course
    assert show_json(session.ids[2])["body"] == NOT_JSON


def test_an_ambiguous_prefix_says_how_many_match(session: Session) -> None:
    result = show("rec_")

    assert result.exit_code == 2
    assert "error: 3 recorded requests in the latest session" in result.stderr
    assert "match 'rec_'" in result.stderr
    assert all(i in result.stderr for i in session.ids)
    assert "give more of the id" in result.stderr
    assert result.stdout == ""


def test_an_unknown_id_is_a_usage_error_pointing_at_the_log(session: Session) -> None:
    result = show("rec_nothing_like_it")

    assert result.exit_code == 2
    assert "error: no recorded request 'rec_nothing_like_it' in the latest session" in (
        result.stderr
    )
    assert "`apimw events log` lists the ids" in result.stderr
    assert result.stdout == ""


def test_a_mistyped_id_gets_a_did_you_mean(session: Session) -> None:
    typo = session.ids[0][:6] + "z" + session.ids[0][7:]  # not hex: matches no id

    result = show(typo)

    assert result.exit_code == 2
    assert "did you mean 'rec_" in result.stderr


def test_an_id_of_an_older_session_needs_its_file(session: Session, tmp_path: Path) -> None:
    older = record_session(sessions_dir() / "older.jsonl", [event_body(n=5)])
    then = session.path.stat().st_mtime - 60
    os.utime(older.path, (then, then))

    result = show(older.ids[0])
    assert result.exit_code == 2
    assert "in the latest session" in result.stderr
    assert "name its file" in result.stderr

    assert show_json(older.ids[0], str(older.path))["body"].encode() == event_body(n=5)


def test_without_any_session_it_says_so() -> None:
    result = show("rec_0001")
    assert result.exit_code == 2
    assert "no recorded session yet" in result.stderr


def test_a_file_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    result = show("rec_0001", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "no such session file" in result.stderr


# --------------------------------------------------------------------------- TYPE still works


def test_show_type_still_prints_a_sample_with_a_session_around(session: Session) -> None:
    result = show("message.received")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["type"] == "message.received"
    assert set(data) == {"type", "timestamp", "data"}


def test_neither_a_type_nor_an_id_names_both(session: Session) -> None:
    result = show("nothing")

    assert result.exit_code == 2
    assert "'nothing' is neither an event type nor the id of a recorded request" in result.stderr
    assert "apimw events list" in result.stderr and "apimw events log" in result.stderr


def test_a_type_with_a_session_file_or_raw_is_a_usage_error(session: Session) -> None:
    with_file = show("message.sent", str(session.path))
    assert with_file.exit_code == 2
    assert "a session file goes with a recorded request's id" in with_file.stderr

    with_raw = show("message.sent", "--raw")
    assert with_raw.exit_code == 2
    assert "--raw goes with a recorded request's id" in with_raw.stderr


# --------------------------------------------------------------------------- events log


def test_log_json_rows_carry_the_delivery_id_and_the_body_size(session: Session) -> None:
    result = run("-o", "json", "events", "log")

    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == session.ids
    assert [r["delivery_id"] for r in rows] == ["dlv_show_0", "dlv_show_1", "dlv_show_2"]
    assert [r["size"] for r in rows] == [len(b) for b in session.bodies]
    assert {"received_at", "type", "kind", "status", "verdict", "duplicate", "forwards"} <= set(
        rows[0]
    )


# --------------------------------------------------------------------------- hostile files

ESC_TITLE = "\x1b]2;pwned\x07"
RLO = "\u202e"


def hostile_request(rid: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema": 2,
        "record": "request",
        "id": rid,
        "received_at": 1700000000.0,
        "method": "POST",
        "path": f"/hook{ESC_TITLE}",
        "headers": {
            "content-type": "application/json",
            f"x-evil{ESC_TITLE}": f"value \x1b[2J {RLO}gnp.exe",
        },
        "body": json.dumps({"text": f"{ESC_TITLE} {RLO}abc \u009b31m", "n": 1}),
        "event_type": f"{ESC_TITLE}message.sent {RLO}",
        "delivery_id": f"dlv{ESC_TITLE}",
        "kind": "event",
        "status": 200,
        "duplicate": False,
        "verdict": {
            "code": "mismatch",
            "reason": f"reason {ESC_TITLE}",
            "diagnosis": f"diagnosis \x1b[31m red {RLO}",
            "matched_secret": None,
        },
    }
    record.update(fields)
    return record


HOSTILE = [
    hostile_request("rec_hostile_json"),
    hostile_request("rec_hostile_text", body=f"not json {ESC_TITLE}\r\n{RLO}\x00 end"),
    {
        "record": "forward",
        "id": "rec_hostile_json",
        "target": f"http://x/{ESC_TITLE}",
        "status": 502,
        "ms": 3.5,
        "error": f"boom \x1b[2J {RLO}",
    },
    hostile_request(
        "rec_hostile_odd", body={"not": "text"}, headers=["a", ESC_TITLE], verdict=ESC_TITLE
    ),
    hostile_request("rec_hostile_b64", body=None, body_b64="not base64 %%"),
]


def write_hostile(path: Path) -> Path:
    path.write_bytes(b"".join(json.dumps(r).encode("ascii") + b"\n" for r in HOSTILE))
    return path


def assert_clean(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    for stream in (result.stdout, result.stderr):
        for char in ("\x1b", "\x07", "\x00", "\r", "\x9b", RLO):
            assert char not in stream, (char, stream)


@pytest.mark.parametrize(
    "rid", ["rec_hostile_json", "rec_hostile_text", "rec_hostile_odd", "rec_hostile_b64"]
)
def test_a_hostile_record_is_shown_escaped(tmp_path: Path, rid: str) -> None:
    session = write_hostile(tmp_path / "hostile.jsonl")

    result = show(rid, str(session))

    assert_clean(result)
    assert result.exit_code == 0, result.stderr
    assert "\\x1b]2;pwned\\x07" in result.stdout


def test_a_hostile_record_view_names_what_cannot_be_shown(tmp_path: Path) -> None:
    session = write_hostile(tmp_path / "hostile.jsonl")

    json_body = show("rec_hostile_json", str(session))
    assert '"text": "\\u001b]2;pwned\\u0007 \\u202eabc \\u009b31m"' in json_body.stdout
    assert "\\u202egnp.exe" in json_body.stdout  # the header value
    assert "diagnosis  diagnosis \\x1b[31m red \\u202e" in json_body.stdout
    assert "boom \\x1b[2J \\u202e" in json_body.stdout  # the forward's error

    text_body = show("rec_hostile_text", str(session))
    assert "not json \\x1b]2;pwned\\x07\\r\n\\u202e\\x00 end" in text_body.stdout

    odd = show("rec_hostile_odd", str(session))
    assert "body: cannot be read: its body is an object, not text" in odd.stdout
    assert "headers: an array, not an object" in odd.stdout

    b64 = show("rec_hostile_b64", str(session))
    assert "body: cannot be read: its body_b64 is not valid base64" in b64.stdout


def test_hostile_json_output_round_trips_and_is_escaped(tmp_path: Path) -> None:
    session = write_hostile(tmp_path / "hostile.jsonl")

    for record in HOSTILE:
        if record["record"] != "request":
            continue
        result = run("-o", "json", "events", "show", record["id"], str(session))
        assert_clean(result)
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["headers"] == record["headers"]
        assert data["event_type"] == record["event_type"]
        if isinstance(record.get("body"), str):
            assert data["body"] == record["body"]
            assert data["size"] == len(record["body"].encode())
        else:
            assert data["size"] is None and data["body_error"]


def test_raw_of_a_body_that_cannot_be_read_is_an_error_and_writes_nothing(
    tmp_path: Path,
) -> None:
    session = write_hostile(tmp_path / "hostile.jsonl")

    result = show("rec_hostile_b64", str(session), "--raw")

    assert_clean(result)
    assert result.exit_code == 1
    assert result.stdout_bytes == b""
    assert "rec_hostile_b64: its body_b64 is not valid base64" in result.stderr


def test_an_id_recorded_twice_is_reported_not_guessed(tmp_path: Path) -> None:
    session = tmp_path / "twice.jsonl"
    twice = [hostile_request("rec_same"), hostile_request("rec_same", body="{}")]
    session.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in twice))

    result = show("rec_same", str(session))

    assert result.exit_code == 2
    assert "2 recorded requests" in result.stderr
    assert "more than once" in result.stderr


def test_json_with_a_duplicate_key_is_shown_as_received(tmp_path: Path) -> None:
    session = tmp_path / "dup.jsonl"
    body = '{"type":"message.sent","type":"message.read"}'
    session.write_bytes(json.dumps(hostile_request("rec_dup", body=body)).encode() + b"\n")

    result = show("rec_dup", str(session))

    assert result.exit_code == 0, result.stderr
    assert "JSON shown as received: it has a duplicate key" in result.stdout
    assert body in result.stdout


def test_show_never_crashes_on_arbitrary_records(tmp_path: Path) -> None:
    """Any session file (the records of the replay/log property test, ids rec_a/b/c among
    them): `events show` ends in a result or a usage error, never a traceback, and shows no
    control character raw."""
    from hypothesis import HealthCheck, given, settings

    from tests.e2e.test_replay_hostile import _LINES

    examples = iter(range(1_000_000))

    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(lines=_LINES)
    def check(lines: list[bytes]) -> None:
        session = tmp_path / f"s{next(examples)}.jsonl"
        session.write_bytes(b"".join(lines))
        for args in (
            ("events", "show", "rec_a", str(session)),
            ("-o", "json", "events", "show", "rec_b", str(session)),
            ("events", "show", "rec_c", str(session), "--raw"),
        ):
            result = run(*args)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                args,
                repr(result.exception),
            )
            assert result.exit_code in (0, 1, 2), (args, result.output)
            assert "Traceback" not in result.output
            assert "\x1b" not in result.stderr
            if "--raw" not in args:
                assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
            if "json" in args and result.exit_code == 0:
                json.loads(result.stdout)

    check()
