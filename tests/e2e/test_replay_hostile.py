"""`apimw events replay` and `events log` on a session file that is hostile input.

A session file may be torn, edited or written by anything: every field may hold any JSON value.
Replay reports each record it cannot send (its id and why), sends the others byte for byte and
exits 1 with a count; log shows what can be shown and counts the lines it skipped. Neither ever
ends in a traceback. The app here is a raw socket server, so a test sees the header bytes
exactly as they arrived on the wire.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import Result

from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.receiver.recorder import SkippedLines, read_records
from apimw_cli.signing import sign
from tests.receiver.support import SECRET, RawApp, RawRequest, event_body, free_port, live_receiver
from tests.support.cli import run

# What replay leaves out (httpx writes its own) or adds.
HOP_BY_HOP = {"host", "content-length", "connection", "accept-encoding"}


# --------------------------------------------------------------------------- a raw app


@pytest.fixture
def app() -> Iterator[RawApp]:
    with RawApp() as local:
        yield local


# --------------------------------------------------------------------------- session files


def request(n: int, **fields: Any) -> dict[str, Any]:
    """A well-formed `request` record (schema 2) for event #n; `fields` override."""
    body = event_body(n=n)
    record: dict[str, Any] = {
        "schema": 2,
        "record": "request",
        "id": f"rec_{n:04d}",
        "received_at": 1700000000.0 + n,
        "method": "POST",
        "path": "/",
        "headers": {
            "host": "127.0.0.1:4242",
            "content-type": "application/json",
            "content-length": str(len(body)),
            "user-agent": "APIMW-Webhooks/1.0",
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
    record.update(fields)
    return record


def with_header(record: dict[str, Any], name: str, value: object) -> dict[str, Any]:
    return {**record, "headers": {**record["headers"], name: value}}


def write_session(path: Path, records: Sequence[dict[str, Any]], *extra: bytes) -> Path:
    """One JSON line per record (ASCII, as the recorder writes), then the `extra` raw lines."""
    lines = [json.dumps(r).encode("ascii") + b"\n" for r in records]
    path.write_bytes(b"".join(lines) + b"".join(extra))
    return path


def assert_no_crash(result: Result) -> None:
    """The command ended through its own exit, not an exception that escaped."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception),
        result.output,
    )
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1), (result.exit_code, result.output)


def assert_sent_as_recorded(got: RawRequest, record: dict[str, Any]) -> None:
    """The body and every recorded header (but hop-by-hop ones) arrived byte for byte."""
    assert got.body == record["body"].encode("utf-8")
    for name, value in record["headers"].items():
        if name not in HOP_BY_HOP:
            assert (name.encode(), value.encode("latin-1")) in got.headers, name
    assert got.header(b"x-apimw-replayed-by") is not None


# --------------------------------------------------------------------------- replay

# (how record #2 is broken, what replay says about it)
BAD_RECORDS: list[tuple[str, dict[str, Any], str]] = [
    (
        "non-text header value",
        with_header(request(2), "x-odd", 5),
        "rec_0002: not sent: header 'x-odd' has a non-text value (a number)",
    ),
    (
        "object header value",
        with_header(request(2), "x-odd", {"a": [1]}),
        "rec_0002: not sent: header 'x-odd' has a non-text value (an object)",
    ),
    (
        "header value not latin-1",
        with_header(request(2), "x-odd", "5 \u20ac"),
        "rec_0002: not sent: header 'x-odd' has a character that is not latin-1 ('€')",
    ),
    (
        "CR LF in a header value",
        with_header(request(2), "x-odd", "a\r\nx-injected: yes"),
        "rec_0002: not sent: header 'x-odd' has a CR in its value",
    ),
    (
        "LF in a header value",
        with_header(request(2), "x-odd", "a\nx-injected: yes"),
        "rec_0002: not sent: header 'x-odd' has an LF in its value",
    ),
    (
        "NUL in a header value",
        with_header(request(2), "x-odd", "a\0b"),
        "rec_0002: not sent: header 'x-odd' has a NUL in its value",
    ),
    (
        "header name not a token",
        with_header(request(2), "x-injected: yes\r\nx-odd", "1"),
        "rec_0002: not sent: header name 'x-injected: yes\\r\\nx-odd' is not a valid HTTP"
        " header name",
    ),
    (
        "headers not an object",
        request(2, headers=["content-type", "application/json"]),
        "rec_0002: not sent: its headers are an array, not an object",
    ),
    (
        "headers missing",
        {k: v for k, v in request(2).items() if k != "headers"},
        "rec_0002: not sent: its headers are null, not an object",
    ),
    (
        "bad base64 body",
        {**{k: v for k, v in request(2).items() if k != "body"}, "body_b64": "eyJ0eXBl*%"},
        "rec_0002: not sent: its body_b64 is not valid base64",
    ),
    (
        "non-ASCII base64 body",
        {**{k: v for k, v in request(2).items() if k != "body"}, "body_b64": "é"},
        "rec_0002: not sent: its body_b64 is not valid base64",
    ),
    (
        "body not text",
        request(2, body={"type": "message.sent"}),
        "rec_0002: not sent: its body is an object, not text",
    ),
    (
        "no body",
        {k: v for k, v in request(2).items() if k != "body"},
        "rec_0002: not sent: it has no body (neither `body` nor `body_b64`)",
    ),
    (
        "non-string id",
        request(2, id=2),
        "request #2 of the session: not sent: its id is a number, not text",
    ),
    (
        "id an object",
        request(2, id={"rec": 2}),
        "request #2 of the session: not sent: its id is an object, not text",
    ),
]


@pytest.mark.parametrize(
    ("bad", "reported"),
    [pytest.param(bad, reported, id=name) for name, bad, reported in BAD_RECORDS],
)
def test_replay_all_reports_an_odd_record_and_sends_the_others(
    app: RawApp, tmp_path: Path, bad: dict[str, Any], reported: str
) -> None:
    good = [request(1), request(3)]
    session = write_session(tmp_path / "s.jsonl", [good[0], bad, good[1]])

    result = run("events", "replay", "--all", str(session), "--to", app.url)

    assert_no_crash(result)
    assert result.exit_code == 1
    assert reported in result.stderr.splitlines()
    assert "error: 1 of 3 events could not be sent" in result.stderr
    assert "was it edited?" in result.stderr
    assert "replays failed" not in result.stderr  # the two sent were answered 200
    assert len(app.requests) == 2
    for got, record in zip(app.requests, good, strict=True):
        assert_sent_as_recorded(got, record)
        assert got.header(b"x-injected") is None
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["rec_0001", "rec_0003"]


def test_replay_json_lists_records_not_sent_with_a_null_status(app: RawApp, tmp_path: Path) -> None:
    records = [request(1), with_header(request(2), "x-odd", None), request(3, id=3)]
    session = write_session(tmp_path / "s.jsonl", records)

    result = run("-o", "json", "events", "replay", "--all", str(session), "--to", app.url)

    assert_no_crash(result)
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert [(r["id"], r["status"], r["error"]) for r in rows] == [
        ("rec_0001", 200, None),
        ("rec_0002", None, "not sent: header 'x-odd' has a non-text value (null)"),
        (3, None, "not sent: its id is a number, not text"),
    ]
    assert rows[0]["type"] == "message.sent" and isinstance(rows[0]["ms"], float)
    assert rows[1]["ms"] is None
    assert "error: 2 of 3 events could not be sent" in result.stderr
    assert app.bodies() == [event_body(n=1)]


def test_a_latin1_header_byte_received_is_replayed_as_that_byte(
    app: RawApp, tmp_path: Path
) -> None:
    # Received by the real receiver, which decodes header bytes as latin-1 when it records...
    session = tmp_path / "received.jsonl"
    body = event_body(n=7)
    config = ReceiverConfig(port=0, secrets=(SECRET,), record=session)
    with live_receiver(config) as live:
        headers = [
            (b"Content-Type", b"application/json"),
            (b"X-APIMW-Signature", sign(body, SECRET).encode()),
            (b"X-Name", b"Jos\xe9"),  # latin-1
            (b"X-Utf8", b"caf\xc3\xa9"),  # UTF-8 bytes: two latin-1 characters
        ]
        assert live.client.post(live.url, content=body, headers=headers).status_code == 200
    [recorded] = [r for r in read_records(session) if r["record"] == "request"]
    assert recorded["headers"]["x-name"] == "Jos\u00e9"

    # ...and replay sends the very bytes that arrived.
    result = run("events", "replay", str(session), "--to", app.url)

    assert_no_crash(result)
    assert result.exit_code == 0, result.stderr
    [got] = app.requests
    assert got.header(b"x-name") == b"Jos\xe9"
    assert got.header(b"x-utf8") == b"caf\xc3\xa9"
    assert got.header(b"x-apimw-signature") == sign(body, SECRET).encode()
    assert got.body == body


def test_replay_that_the_app_refuses_is_counted_apart_with_a_resign_hint(
    tmp_path: Path,
) -> None:
    session = write_session(tmp_path / "s.jsonl", [request(1), request(2), request(3)])
    with RawApp(statuses=[401, 500]) as app:
        result = run("events", "replay", "--all", str(session), "--to", app.url)

    assert_no_crash(result)
    assert result.exit_code == 1
    assert "error: 2 of 3 replays failed (1 answered 401, 1 answered 500)" in result.stderr
    assert "--resign-env" in result.stderr
    assert "your app answered 500: its logs say why" in result.stderr
    assert "is your app up" not in result.stderr
    assert "could not be sent" not in result.stderr
    assert len(app.requests) == 3


def test_a_500_does_not_ask_whether_the_app_is_up(tmp_path: Path) -> None:
    session = write_session(tmp_path / "s.jsonl", [request(1)])
    with RawApp(statuses=[500]) as app:
        result = run("events", "replay", str(session), "--to", app.url)

    assert result.exit_code == 1
    assert "error: 1 of 1 replays failed (1 answered 500)" in result.stderr
    assert "is your app up" not in result.stderr
    assert "--resign-env" not in result.stderr


def test_a_refused_resigned_replay_questions_the_secret_given(tmp_path: Path) -> None:
    session = write_session(tmp_path / "s.jsonl", [request(1)])
    with RawApp(statuses=[403]) as app:
        result = run("events", "replay", str(session), "--to", app.url, "--resign", "whsec_x")

    assert result.exit_code == 1
    assert "does it expect the secret you gave?" in result.stderr
    hint = next(line for line in result.stderr.splitlines() if line.startswith("hint: "))
    assert "--resign-env VAR" not in hint  # (the warning about --resign on the command line may)
    [got] = app.requests
    assert got.header(b"x-apimw-signature") == sign(event_body(n=1), "whsec_x").encode()
    assert [k.lower() for k, _ in got.headers].count(b"x-apimw-signature") == 1
    assert got.header(b"x-apimw-delivery") == b"dlv_1"


def test_a_connection_failure_asks_whether_the_app_is_up(tmp_path: Path) -> None:
    session = write_session(tmp_path / "s.jsonl", [request(1), request(2)])
    url = f"http://127.0.0.1:{free_port()}/hook"

    result = run("events", "replay", "--all", str(session), "--to", url)

    assert_no_crash(result)
    assert result.exit_code == 1
    assert "error: 2 of 2 replays failed (2 could not connect)" in result.stderr
    assert f"is your app up? nothing accepted a connection at {url}" in result.stderr
    assert "--resign-env" not in result.stderr


def test_records_not_sent_and_replays_failed_are_two_counts(app: RawApp, tmp_path: Path) -> None:
    records = [request(1), with_header(request(2), "x-odd", 1.5), request(3)]
    session = write_session(tmp_path / "s.jsonl", records)
    app.statuses = [500]

    result = run("events", "replay", "--all", str(session), "--to", app.url)

    assert result.exit_code == 1
    assert (
        "error: 1 of 3 events could not be sent; of the 2 sent, 1 failed (1 answered 500)"
        in result.stderr
    )
    assert "was it edited?" in result.stderr and "its logs say why" in result.stderr
    assert app.bodies() == [event_body(n=1), event_body(n=3)]


def test_replay_failed_treats_a_forward_with_an_odd_status_as_failed(
    app: RawApp, tmp_path: Path
) -> None:
    records = [
        request(1),
        {"record": "forward", "id": "rec_0001", "target": "x", "status": 200, "error": None},
        request(2),
        {"record": "forward", "id": "rec_0002", "target": "x", "status": "200", "error": None},
        request(3),
        {"record": "forward", "id": {"rec": 3}, "target": "x", "status": 200, "error": None},
    ]
    session = write_session(tmp_path / "s.jsonl", records)

    result = run("events", "replay", "--failed", str(session), "--to", app.url)

    assert result.exit_code == 0, result.stderr
    assert app.bodies() == [event_body(n=2), event_body(n=3)]


# --------------------------------------------------------------------------- log


ODD_RECORDS: list[dict[str, Any]] = [
    request(1),
    request(2, received_at="yesterday", verdict="valid", headers=[1, 2]),
    request(3, received_at=None, verdict=["code"], event_type={"nested": [1, {"a": None}]}),
    request(4, received_at=1e300, status="two hundred", id=4),
    request(5, received_at=float("nan"), duplicate={"x": 1}, kind=None, event_type=None),
    request(6, received_at=-1e18, verdict={"code": {"deep": True}}, id=None),
    request(7, received_at=True, event_type="\x1b]2;title\x07 \u202e evil"),
    {"record": "forward", "id": "rec_0001", "target": ["a"], "status": "x", "error": 5},
    {"record": "forward", "id": "rec_0001", "status": None},
    {"record": "forward", "id": ["rec_0002"], "status": 200},
    {"record": "forward"},
    {"record": ["request"]},
    {"record": "request"},
    {},
]
TORN = (
    b'{"schema":2,"record":"request","id":"rec_torn","bo\n',  # torn write
    b"[1, 2, 3]\n",  # JSON, but not an object
    b"\xff\xfe not even UTF-8\n",
    b"\n",  # blank: not counted
    b'{"record": "request", "id": "rec_last_torn"',  # a torn last line, no newline
)


def test_log_shows_a_file_of_odd_records_and_counts_the_skipped_lines(tmp_path: Path) -> None:
    session = write_session(tmp_path / "odd.jsonl", ODD_RECORDS, *TORN)

    result = run("events", "log", str(session))

    assert_no_crash(result)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "TIME", "TYPE", "STATUS", "SIGNATURE", "FORWARDED"]
    assert len(lines) == 1 + 8  # the header, 7 requests and the one with nothing but its kind
    clock = time.strftime("%H:%M:%S", time.localtime(1700000001.0))
    assert lines[1].split() == ["rec_0001", clock, "message.sent", "200", "valid", "5,"]
    assert lines[2].split()[:3] == ["rec_0002", "?", "message.sent"]  # time, verdict: odd
    assert "two hundred" in result.stdout
    assert '{"nested":[1,{"a":null}]}' in result.stdout
    assert "\x1b" not in result.stdout  # the printer escapes controls
    assert "warning: skipped 4 lines of" in result.stderr
    assert "that are not a record" in result.stderr


def test_log_json_of_odd_records_is_json(tmp_path: Path) -> None:
    deep: Any = "bottom"
    for _ in range(500):
        deep = [deep]
    session = write_session(tmp_path / "odd.jsonl", [*ODD_RECORDS, request(8, event_type=deep)])

    result = run("-o", "json", "events", "log", str(session))

    assert_no_crash(result)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 9
    assert rows[1]["received_at"] == "yesterday" and rows[1]["verdict"] is None
    assert rows[3]["id"] == 4 and rows[3]["status"] == "two hundred"
    assert [f["status"] for f in rows[0]["forwards"]] == ["x", None]
    assert "warning" not in result.stderr  # no line was skipped here


def test_log_without_skipped_lines_says_nothing_about_them(tmp_path: Path) -> None:
    session = write_session(tmp_path / "s.jsonl", [request(1)], b"\n\n")
    result = run("events", "log", str(session))
    assert result.exit_code == 0
    assert "warning" not in result.stderr


def test_read_records_counts_the_lines_it_skips_only_when_asked(tmp_path: Path) -> None:
    session = write_session(tmp_path / "s.jsonl", [request(1), request(2)], *TORN)
    skipped = SkippedLines()
    assert [r.get("id") for r in read_records(session, skipped)] == ["rec_0001", "rec_0002"]
    assert skipped.count == 4
    assert [r.get("id") for r in read_records(session)] == ["rec_0001", "rec_0002"]


def test_read_records_skips_json_nested_too_deep_to_parse(tmp_path: Path) -> None:
    session = tmp_path / "deep.jsonl"
    session.write_bytes(b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n")
    skipped = SkippedLines()
    assert list(read_records(session, skipped)) == []
    assert skipped.count == 1


# --------------------------------------------------------------------------- property

_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates included
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _TEXT
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


def _usually(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` three times in four, else any JSON value."""
    return st.integers(0, 3).flatmap(lambda n: _JSON if n == 3 else good)


_HEADER_NAMES = st.sampled_from(
    ["content-type", "x-apimw-signature", "host", "content-length", "X-Mixed"]
) | st.text(st.characters(max_codepoint=0x17F, exclude_categories=()), max_size=8)
_LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF)
_HEADER_VALUES = _usually(st.text(_LATIN1, max_size=12)) | st.text(
    st.characters(max_codepoint=0x17F, exclude_categories=()), max_size=12
)
_HEADERS = _usually(st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=5))
_IDS = _usually(st.sampled_from(["rec_a", "rec_b", "rec_c"]))
_B64 = st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode())
_OPTIONAL = {
    "body_b64": _B64 | _TEXT | _JSON,
    "received_at": st.floats(allow_nan=True, allow_infinity=True) | _JSON,
    "event_type": _TEXT | _JSON,
    "status": st.integers(100, 599) | _JSON,
    "verdict": st.fixed_dictionaries({}, optional={"code": _JSON}) | _JSON,
    "target": _JSON,
    "error": st.none() | _JSON,
}
# Mostly requests that look like requests, each field odd now and then (so replay has records
# to send and to refuse); forwards likewise; and any JSON object at all.
_REQUESTS = st.fixed_dictionaries(
    {
        "record": _usually(st.just("request")),
        "id": _IDS,
        "kind": _usually(st.just("event")),
        "duplicate": _usually(st.just(False)),
        "headers": _HEADERS,
        "body": _usually(st.text(max_size=20)),
    },
    optional=_OPTIONAL,
)
_FORWARDS = st.fixed_dictionaries(
    {"record": st.just("forward"), "id": _IDS},
    optional={"status": _usually(st.integers(100, 599)), "error": st.none() | _JSON},
)
_RECORDS = st.builds(
    lambda record, extra: {**extra, **record},
    st.integers(0, 3).flatmap(
        lambda n: (_REQUESTS, _REQUESTS, _FORWARDS, st.dictionaries(_TEXT, _JSON, max_size=4))[n]
    ),
    st.dictionaries(_TEXT, _JSON, max_size=2),
)
_TORN = st.sampled_from([b'{"record": "requ\n', b"[]\n", b"null\n", b"\n", b"\xff\n"])
# Records, with torn or non-record lines among them, and maybe a torn last line.
_LINES = st.builds(
    lambda records, torn, last: [*records[:1], *torn, *records[1:], last],
    st.lists(_RECORDS.map(lambda r: json.dumps(r).encode("ascii") + b"\n"), max_size=6),
    st.lists(_TORN, max_size=2),
    st.sampled_from([b"", b'{"record": "request", "id": "rec_a", "hea']),
)


@pytest.mark.slow
def test_log_and_replay_never_crash_on_arbitrary_records(tmp_path: Path) -> None:
    examples = iter(range(1_000_000))
    with RawApp() as app:

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
                ("events", "log", str(session)),
                ("-o", "json", "events", "log", str(session)),
                ("events", "replay", "--all", str(session), "--to", app.url),
                ("-o", "json", "events", "replay", "--failed", str(session), "--to", app.url),
            ):
                result = run(*args)
                assert_no_crash(result)
                if "json" in args and result.stdout:
                    json.loads(result.stdout)

        check()
