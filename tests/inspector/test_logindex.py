"""The inspector's index of a session log (apimw_cli/inspector/logindex.py): rows as the
recorder writes them, tailing a growing file, forwards and replays, attempts, filters, details."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.inspector import logstore
from apimw_cli.inspector.logindex import Filters, LogIndex
from apimw_cli.models import Forwarded, Received, Verdict, VerdictCode
from apimw_cli.receiver.recorder import Recorder, replay_record
from tests.receiver.support import received

ROW_KEYS = {
    "id",
    "seq",
    "kind",
    "received_at",
    "method",
    "path",
    "event_type",
    "delivery_id",
    "status",
    "verdict",
    "duplicate",
    "attempt",
    "attempt_count",
    "size",
    "forwards",
    "forward_state",
    "replay_of",
    "mode",
    "replays",
    "note",
}
DETAIL_KEYS = ROW_KEYS | {"headers", "body", "body_error", "attempts", "replays", "original"}
VALID = Verdict(VerdictCode.VALID, "The signature matches.", matched_secret=0)
MISMATCH = Verdict(VerdictCode.MISMATCH, "No match.", diagnosis="The body was re-encoded.")
MISSING = Verdict(VerdictCode.MISSING, "The X-APIMW-Signature header is missing.")


def event(n: int, **changes: Any) -> Received:
    fields: dict[str, Any] = {"delivery_id": f"dlv_{n}", "verdict": VALID}
    fields.update(changes)
    return dataclasses.replace(received(n), **fields)


def outcome(rec: Received, status: int | None = 200, **changes: Any) -> Forwarded:
    base = Forwarded(rec.record_id, "http://127.0.0.1:3000/hook", status, 2.5)
    return dataclasses.replace(base, **changes)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "session.jsonl"


def write(log: Path, *items: Received | Forwarded | dict[str, Any]) -> None:
    with Recorder(log) as recorder:
        for item in items:
            if isinstance(item, Received):
                recorder.write_request(item)
            elif isinstance(item, Forwarded):
                recorder.write_forward(item, at=1700000100.0)
            else:
                recorder.write_record(item)


def index_of(log: Path, **options: Any) -> LogIndex:
    index = LogIndex(log, **options)
    index.refresh()
    return index


# --------------------------------------------------------------------------- rows


def test_rows_are_newest_first_with_every_key(log: Path) -> None:
    write(log, event(1), event(2, event_type="message.read"), event(3))
    rows = index_of(log).rows()
    assert [r["id"] for r in rows] == [event(3).record_id, event(2).record_id, event(1).record_id]
    assert [r["seq"] for r in rows] == [3, 2, 1]
    for row in rows:
        assert set(row) == ROW_KEYS
    row = rows[1]
    assert row["kind"] == "event" and row["event_type"] == "message.read"
    assert (row["method"], row["path"], row["status"]) == ("POST", "/", 200)
    assert row["received_at"] == event(2).received_at
    assert row["delivery_id"] == "dlv_2" and row["verdict"] == "valid"
    assert row["size"] == len(event(2).body)
    assert (row["attempt"], row["attempt_count"], row["duplicate"]) == (1, 1, False)
    assert (row["forwards"], row["forward_state"], row["replays"]) == ([], "none", [])


def test_rows_page_backwards_from_a_row(log: Path) -> None:
    write(log, *(event(n) for n in range(10)))
    index = index_of(log)
    first = index.rows(limit=4)
    assert [r["seq"] for r in first] == [10, 9, 8, 7]
    more = index.rows(before=first[-1]["id"], limit=4)
    assert [r["seq"] for r in more] == [6, 5, 4, 3]
    assert index.rows(before="rec_unknown") == []


def test_latest_gives_the_newest_since_a_seq_and_counts_the_rest(log: Path) -> None:
    write(log, *(event(n) for n in range(5)))
    index = index_of(log)
    rows, skipped = index.latest(1, 2)
    assert [r["seq"] for r in rows] == [5, 4] and skipped == 2
    assert index.latest(5, 10) == ([], 0)


def test_challenges_and_refusals_are_rows_of_their_kind(log: Path) -> None:
    challenge = dataclasses.replace(received(1), kind="challenge", verdict=None)
    rejected = dataclasses.replace(received(2), kind="rejected", status=405, method="GET")
    invalid = event(3, kind="invalid", status=401, verdict=MISMATCH)
    write(log, challenge, rejected, invalid)
    kinds = [(r["kind"], r["status"], r["verdict"]) for r in index_of(log).rows()]
    assert kinds == [
        ("invalid", 401, "mismatch"),
        ("rejected", 405, None),
        ("challenge", 200, None),
    ]


# --------------------------------------------------------------------------- tailing


def test_refresh_reads_only_what_was_appended(log: Path) -> None:
    write(log, event(1))
    index = index_of(log)
    assert index.refresh() == 0
    write(log, event(2), event(3))
    assert index.refresh() == 2
    assert [r["seq"] for r in index.rows()] == [3, 2, 1]


def test_a_budgeted_refresh_reads_part_and_the_next_ones_catch_up(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a flood the index reads for its budget only; later calls go on from there: every
    row once, in order, forwards attached, and `behind` says what is left."""
    events = [event(n) for n in range(1, 1001)]
    write(log, *events, *(outcome(e) for e in events[::7]))
    clock = iter(float(n) for n in range(10**6))  # each look at the clock: a second later
    monkeypatch.setattr(logstore, "_clock", lambda: next(clock))
    monkeypatch.setattr(logstore, "BUDGET_LINES", 100)
    index = LogIndex(log, live=True)
    parts = []
    while (added := index.refresh(budget=0.5)) or index.behind:
        parts.append(added)
        assert index.behind or sum(parts) == 1000
    assert len(parts) > 5 and sum(parts) == 1000 and index.behind == 0
    rows = index.rows(limit=1000)
    assert [r["seq"] for r in rows] == list(range(1000, 0, -1))
    assert [r["id"] for r in reversed(rows)] == [e.record_id for e in events]
    # live, forwarding: an event without an outcome is still on its way
    assert [r["forward_state"] for r in reversed(rows)][:8] == ["ok", *["pending"] * 6, "ok"]
    assert index.refresh(budget=0.5) == 0 and index.behind == 0


def test_a_past_log_is_read_whole_whatever_the_budget(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(log, *(event(n) for n in range(1, 301)))
    clock = iter(float(n) for n in range(10**6))
    monkeypatch.setattr(logstore, "_clock", lambda: next(clock))
    monkeypatch.setattr(logstore, "BUDGET_LINES", 10)
    index = LogIndex(log)  # not live: `apimw events inspect`
    assert index.refresh(budget=0.001) == 300 and index.behind == 0


def test_once_the_log_stops_growing_a_budgeted_refresh_catches_up(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(log, *(event(n) for n in range(1, 501)))
    clock = iter(float(n) for n in range(10**6))
    monkeypatch.setattr(logstore, "_clock", lambda: next(clock))
    monkeypatch.setattr(logstore, "BUDGET_LINES", 100)
    monkeypatch.setattr(logstore, "QUIET_BUDGET", 10.0**9)
    index = LogIndex(log, live=True)
    first = index.refresh(budget=0.5)  # the log is new to it: as if growing, the budget holds
    assert 0 < first < 500 and index.behind
    assert index.refresh(budget=0.5) == 500 - first  # same size since: all the rest at once
    assert index.behind == 0


def test_a_torn_last_line_waits_for_its_newline(log: Path) -> None:
    write(log, event(1))
    line = (log.read_bytes().splitlines(keepends=True))[0].replace(
        b"rec_000000000001", b"rec_00000000000f"
    )
    index = index_of(log)
    with log.open("ab") as file:
        file.write(line[:40])
    assert index.refresh() == 0
    with log.open("ab") as file:
        file.write(line[40:-1])
    assert index.refresh() == 0
    with log.open("ab") as file:
        file.write(b"\n")
    assert index.refresh() == 1
    assert index.rows()[0]["id"] == "rec_00000000000f"


def test_a_line_longer_than_a_read_is_read_whole(log: Path) -> None:
    big = event(1, body=b'{"blob":"' + b"x" * (3 * 1024 * 1024) + b'"}')
    write(log, event(0), big, event(2))
    index = index_of(log)
    assert [r["size"] for r in index.rows()] == [
        len(event(2).body),
        len(big.body),
        len(event(0).body),
    ]
    assert index.body(big.record_id) == big.body


def test_a_truncated_file_starts_the_index_over(log: Path) -> None:
    write(log, event(1), event(2))
    index = index_of(log)
    log.write_bytes(b"")
    write(log, event(7))
    assert index.refresh() == 1
    rows = index.rows()
    assert [r["id"] for r in rows] == [event(7).record_id]
    assert rows[0]["seq"] == 3  # seq numbers go on: a page's cursor stays meaningful
    assert index.generation == 1
    assert index.detail(event(1).record_id) is None


def test_a_file_rewritten_to_the_same_size_or_longer_starts_over(log: Path) -> None:
    write(log, event(1))
    index = index_of(log)
    other = log.with_name("other.jsonl")
    write(other, event(8), event(9))
    os.replace(other, log)  # another file at the path
    assert index.refresh() == 2
    assert [r["id"] for r in index.rows()] == [event(9).record_id, event(8).record_id]
    # the same file, rewritten in place with other lines
    data = log.read_bytes()
    with log.open("r+b") as file:
        file.write(data.replace(b"rec_000000000008", b"rec_00000000000a"))
        file.write(data)
    index.refresh()
    assert index.generation == 2
    assert index.rows()[-1]["id"] == "rec_00000000000a"


def test_a_missing_file_is_no_rows_yet(tmp_path: Path) -> None:
    index = LogIndex(tmp_path / "not-yet.jsonl")
    assert index.refresh() == 0 and index.rows() == []
    write(tmp_path / "not-yet.jsonl", event(1))
    assert index.refresh() == 1


# --------------------------------------------------------------------------- forwards, replays


def test_forwards_attach_to_their_request_and_show_in_updates(log: Path) -> None:
    one, two = event(1), event(2)
    write(log, one, two, outcome(one, 200))
    index = index_of(log, live=True)
    cursor = index.forward_cursor()
    rows = {r["id"]: r for r in index.rows()}
    assert rows[one.record_id]["forwards"] == [
        {"target": "http://127.0.0.1:3000/hook", "status": 200, "ms": 2.5, "error": None}
    ]
    assert rows[one.record_id]["forward_state"] == "ok"
    assert rows[two.record_id]["forward_state"] == "pending"
    assert index.forward_updates(cursor) == ([], cursor)
    write(log, outcome(two, None, error="connection refused"))
    index.refresh()
    updates, after = index.forward_updates(cursor)
    assert after == cursor + 1
    assert updates == [
        {
            "id": two.record_id,
            "forwards": [
                {
                    "target": "http://127.0.0.1:3000/hook",
                    "status": None,
                    "ms": 2.5,
                    "error": "connection refused",
                }
            ],
            "forward_state": "failed",
            "replays": [],
        }
    ]


def test_a_forward_before_its_request_waits_for_it(log: Path) -> None:
    one = event(1)
    write(log, outcome(one, 500), one)
    [row] = index_of(log).rows()
    assert row["forward_state"] == "failed" and row["forwards"][0]["status"] == 500


def test_a_past_session_has_no_pending_forward(log: Path) -> None:
    one, two = event(1), event(2)
    write(log, one, outcome(one), two)
    states = [r["forward_state"] for r in index_of(log).rows()]
    assert states == ["none", "ok"]


def test_the_detail_shows_the_apps_answer(log: Path) -> None:
    one = event(1)
    answer = outcome(
        one,
        201,
        response_headers=(("Content-Type", "application/json"), ("X-App", "\u00e9")),
        response_body=b'{"saved":true}',
    )
    cut = outcome(one, 502, response_body=b"\xff" * 10, response_truncated=True)
    write(log, one, answer, cut)
    forwards = index_of(log).detail(one.record_id)["forwards"]  # type: ignore[index]
    assert forwards[0]["response_headers"] == [
        ["Content-Type", "application/json"],
        ["X-App", "\u00e9"],
    ]
    assert forwards[0]["response_body"] == {
        "size": 14,
        "text": '{"saved":true}',
        "base64": base64.b64encode(b'{"saved":true}').decode(),
        "truncated": False,
    }
    assert forwards[1]["response_body"]["text"] is None
    assert base64.b64decode(forwards[1]["response_body"]["base64"]) == b"\xff" * 10
    assert forwards[1]["response_body"]["truncated"] is True
    assert forwards[0]["at"] == 1700000100.0


def test_an_old_forward_line_without_an_answer_reads_as_none(log: Path) -> None:
    one = event(1)
    write(log, one)
    with log.open("a") as file:
        old = {"schema": 2, "record": "forward", "id": one.record_id, "target": "http://x/"}
        file.write(json.dumps({**old, "status": 200, "ms": 1.0, "error": None, "at": 1.0}) + "\n")
    [forward] = index_of(log).detail(one.record_id)["forwards"]  # type: ignore[index]
    assert forward["response_headers"] == [] and forward["response_body"] is None


def replay_line(of: str, n: int = 1, status: int | None = 200, **fields: Any) -> dict[str, Any]:
    line = replay_record(
        record_id=f"rec_replay{n:06x}",
        of=of,
        mode="resigned",
        target="http://127.0.0.1:3000/hook",
        status=status,
        ms=4.0,
        error=None,
        response_headers=(("X-Replayed", "1"),),
        response_body=b"thanks",
        at=1700000200.0 + n,
    )
    line.update(fields)
    return line


def test_replay_lines_are_rows_linked_to_their_request(log: Path) -> None:
    one = event(1, event_type="message.read")
    write(log, one, replay_line(one.record_id, 1), replay_line(one.record_id, 2, status=500))
    index = index_of(log)
    rows = index.rows()
    assert [r["kind"] for r in rows] == ["replay", "replay", "event"]
    replay = rows[1]
    assert replay["id"] == "rec_replay000001" and replay["replay_of"] == one.record_id
    assert replay["mode"] == "resigned" and replay["status"] is None
    assert replay["received_at"] == 1700000201.0
    assert replay["event_type"] == "message.read" and replay["size"] == len(one.body)
    assert replay["forwards"] == [
        {"target": "http://127.0.0.1:3000/hook", "status": 200, "ms": 4.0, "error": None}
    ]
    assert replay["forward_state"] == "ok" and rows[0]["forward_state"] == "failed"
    assert rows[2]["replays"] == ["rec_replay000001", "rec_replay000002"]
    detail = index.detail("rec_replay000001")
    assert detail is not None
    assert detail["original"]["id"] == one.record_id
    assert detail["body"]["text"] == one.body.decode()
    assert detail["forwards"][0]["response_body"]["text"] == "thanks"
    assert detail["verdict"] is None
    assert index.body("rec_replay000001") == one.body
    assert index.record("rec_replay000001")["id"] == one.record_id  # type: ignore[index]
    original = index.detail(one.record_id)
    assert [r["id"] for r in original["replays"]] == ["rec_replay000001", "rec_replay000002"]  # type: ignore[index]


def test_a_replay_kept_in_memory_is_a_row_with_its_note(log: Path) -> None:
    one = event(1)
    write(log, one)
    index = index_of(log)
    row = index.add_replay(replay_line(one.record_id), "not recorded: No space left on device")
    assert row["note"] == "not recorded: No space left on device"
    assert index.rows()[0]["id"] == row["id"]
    detail = index.detail(row["id"])
    assert detail["forwards"][0]["response_body"]["text"] == "thanks"  # type: ignore[index]


# --------------------------------------------------------------------------- attempts


def test_retries_share_a_delivery_id_and_count_attempts(log: Path) -> None:
    first = event(1, delivery_id="dlv_same", status=500)
    other = event(2)
    second = event(3, delivery_id="dlv_same", duplicate=True)
    third = event(4, delivery_id="dlv_same", duplicate=True)
    write(log, first, other, second, third)
    index = index_of(log)
    rows = {r["id"]: r for r in index.rows()}
    assert [rows[r.record_id]["attempt"] for r in (first, second, third)] == [1, 2, 3]
    assert rows[first.record_id]["attempt_count"] == 3
    assert rows[other.record_id]["attempt_count"] == 1
    detail = index.detail(second.record_id)
    assert [r["id"] for r in detail["attempts"]] == [first.record_id, third.record_id]  # type: ignore[index]
    assert index.detail(other.record_id)["attempts"] == []  # type: ignore[index]


def test_a_request_without_a_delivery_id_has_no_attempt_number(log: Path) -> None:
    write(log, event(1, delivery_id=None), event(2, delivery_id=None))
    rows = index_of(log).rows()
    assert [(r["attempt"], r["attempt_count"]) for r in rows] == [(None, 1), (None, 1)]


# --------------------------------------------------------------------------- filters


@pytest.fixture
def mixed(log: Path) -> LogIndex:
    sent = event(1, event_type="message.sent", body=b'{"text":"Hello World"}')
    read = event(2, event_type="message.read", body=b"\xffbinary NEEDLE\x00")
    bad = event(3, event_type="message.sent", kind="invalid", status=401, verdict=MISMATCH)
    unsigned = event(4, event_type="contact.updated", kind="invalid", status=401, verdict=MISSING)
    skipped = event(5, event_type="message.failed", verdict=Verdict(VerdictCode.SKIPPED, "off"))
    pending = event(6, event_type="message.sent")
    write(log, sent, read, bad, unsigned, skipped, outcome(sent), outcome(read, 503), pending)
    return index_of(log, live=True)


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [int(r["id"][4:], 16) for r in rows]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(type="message.sent"), [6, 3, 1]),
        (Filters(type="message.*"), [6, 5, 3, 2, 1]),
        (Filters(type="*.updated"), [4]),
        (Filters(type="message"), []),
        (Filters(verdict="valid"), [6, 2, 1]),
        (Filters(verdict="invalid"), [3]),
        (Filters(verdict="unsigned"), [4]),
        (Filters(verdict="skipped"), [5]),
        (Filters(verdict="mismatch"), [3]),
        (Filters(forward="ok"), [1]),
        (Filters(forward="failed"), [2]),
        (Filters(forward="pending"), [6, 5]),
        (Filters(forward="none"), [4, 3]),
        (Filters(q="hello world"), [1]),
        (Filters(q="HELLO"), [1]),
        (Filters(q="needle"), [2]),
        (Filters(q="wamid.TEST3"), [3]),
        (Filters(q="absent"), []),
        (Filters(type="message.sent", verdict="valid", q="hello"), [1]),
    ],
)
def test_filters(mixed: LogIndex, filters: Filters, expected: list[int]) -> None:
    assert ids(mixed.rows(filters=filters)) == expected


def test_filters_apply_to_latest_and_pages(mixed: LogIndex) -> None:
    rows, skipped = mixed.latest(0, 1, Filters(type="message.*"))
    assert ids(rows) == [6] and skipped == 4
    assert ids(mixed.rows(before=rows[0]["id"], limit=2, filters=Filters(type="message.*"))) == [
        5,
        3,
    ]


# --------------------------------------------------------------------------- details


def test_the_detail_of_a_request(log: Path) -> None:
    one = event(
        1,
        kind="invalid",
        status=401,
        verdict=MISMATCH,
        headers={"content-type": "application/json", "x-apimw-signature": "sha256=00"},
        body=b'{"b":[1,2],"a":"\xc3\xa9"}',
    )
    write(log, one)
    detail = index_of(log).detail(one.record_id)
    assert detail is not None and set(detail) == DETAIL_KEYS | {"verdict", "forwards"}
    assert detail["headers"] == [
        ["content-type", "application/json"],
        ["x-apimw-signature", "sha256=00"],
    ]
    assert detail["body"] == {
        "size": len(one.body),
        "text": one.body.decode(),
        "base64": base64.b64encode(one.body).decode(),
        "pretty": '{\n  "b": [\n    1,\n    2\n  ],\n  "a": "\u00e9"\n}',
        "pretty_error": None,
    }
    assert detail["body_error"] is None
    assert detail["verdict"] == {
        "code": "mismatch",
        "reason": "No match.",
        "diagnosis": "The body was re-encoded.",
    }
    assert detail["original"] is None


@pytest.mark.parametrize(
    ("body", "text", "why"),
    [
        (b"", "", "the body is empty"),
        (b"\xff\xfe", None, "the body is not UTF-8 text"),
        (b"not json", "not json", "not JSON: Expecting value at character 0"),
        (b'"a\x1bb"', '"a\x1bb"', "not JSON: Invalid control character at character 2"),
        (
            b"[" * 3000 + b"]" * 3000,
            "[" * 3000 + "]" * 3000,
            "the JSON is nested too deeply to pretty-print",
        ),
    ],
)
def test_a_body_that_cannot_be_pretty_printed_says_why(
    log: Path, body: bytes, text: str | None, why: str
) -> None:
    write(log, event(1, body=body))
    view = index_of(log).detail(event(1).record_id)["body"]  # type: ignore[index]
    assert (view["text"], view["pretty"], view["pretty_error"]) == (text, None, why)
    assert base64.b64decode(view["base64"]) == body


def test_json_nested_past_orjsons_limits_is_still_pretty_printed(log: Path) -> None:
    body = b"[" * 300 + b"]" * 300  # past orjson's 254 for writing, within the stdlib's
    write(log, event(1, body=body))
    pretty = index_of(log).detail(event(1).record_id)["body"]["pretty"]  # type: ignore[index]
    assert json.loads(pretty) == json.loads(body)


def test_body_and_record_give_the_exact_bytes(log: Path) -> None:
    odd = b"\x00\xff\x1b[2J\r\n%s'\"\\"
    write(log, event(1, body=odd))
    index = index_of(log)
    assert index.body(event(1).record_id) == odd
    record = index.record(event(1).record_id)
    assert record is not None and base64.b64decode(record["body_b64"]) == odd
    assert index.body("rec_nope") is None and index.record("rec_nope") is None
    assert index.detail("rec_nope") is None


def test_lines_in_another_key_order_or_schema_1_are_read_the_slow_way(log: Path) -> None:
    body = b'{"type":"message.sent"}'
    lines = [
        {
            "schema": 1,
            "record": "request",
            "id": "rec_1",
            "body_b64": base64.b64encode(body).decode(),
        },
        {"record": "request", "kind": "event", "id": "rec_2", "body": "x", "event_type": "a.b"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    index = index_of(log)
    rows = index.rows()
    assert [(r["id"], r["event_type"], r["size"]) for r in rows] == [
        ("rec_2", "a.b", 1),
        ("rec_1", None, len(body)),
    ]
    assert index.body("rec_1") == body


@pytest.mark.parametrize("chunk", [1, 7, 100, 333, 4096])
def test_reads_in_any_chunk_size_give_the_same_rows(
    log: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = event(1)
    write(log, one, event(2, body=b"x" * 1000), outcome(one), event(3), replay_line(one.record_id))
    expected = index_of(log).rows()
    monkeypatch.setattr(logstore, "CHUNK", chunk)
    assert index_of(log).rows() == expected


def test_a_log_written_while_it_is_read_from_another_thread(log: Path) -> None:
    write(log)
    index = LogIndex(log)
    done = threading.Event()
    seen: list[int] = []

    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                index.refresh()
                rows = index.rows(limit=5)
                seen.append(len(index.rows(limit=10_000)))
                assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True)
        except BaseException as error:  # seen by the test, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with Recorder(log) as recorder:
            for n in range(300):
                recorder.write_request(event(n))
                if n % 3 == 0:
                    recorder.write_forward(outcome(event(n)), at=1.0)
    finally:
        done.set()
        thread.join()
    index.refresh()
    rows = index.rows(limit=1000)
    assert [r["id"] for r in rows] == [event(n).record_id for n in reversed(range(300))]
    assert sum(1 for r in rows if r["forwards"]) == 100
    assert errors == [] and seen == sorted(seen)  # rows only ever added


def test_latest_without_filters_agrees_with_a_filter_that_takes_every_row(log: Path) -> None:
    write(log, *(event(n) for n in range(12)))
    index = index_of(log)
    for after in range(-2, 15):
        for limit in (0, 1, 5, 12, 20):
            plain, plain_skipped = index.latest(after, limit)
            taken, taken_skipped = index.latest(after, limit, Filters())
            assert [r["seq"] for r in plain] == [r["seq"] for r in taken]
            assert plain_skipped == taken_skipped


def test_a_delivery_id_used_for_ever_lists_the_nearest_attempts(log: Path) -> None:
    write(log, *(event(n, delivery_id="dlv_forever") for n in range(300)))
    index = index_of(log)
    middle = index.detail(event(150).record_id)
    assert middle is not None and middle["attempt"] == 151 and middle["attempt_count"] == 300
    assert [r["attempt"] for r in middle["attempts"]] == [*range(101, 151), *range(152, 202)]
    first = index.detail(event(0).record_id)
    assert [r["attempt"] for r in first["attempts"]] == list(range(2, 52))  # type: ignore[index]


def test_a_read_that_fails_midway_takes_no_line_twice(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(log, *(event(n) for n in range(20)))
    monkeypatch.setattr(logstore, "CHUNK", 1000)  # several reads
    real = os.pread
    calls = 0

    def failing(fd: int, length: int, offset: int) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 6:
            raise OSError(5, "Input/output error")
        return real(fd, length, offset)

    index = LogIndex(log)
    monkeypatch.setattr(os, "pread", failing)
    first = index.refresh()
    monkeypatch.setattr(os, "pread", real)
    assert 0 < first < 20
    assert first + index.refresh() == 20
    assert [r["seq"] for r in index.rows()] == list(range(20, 0, -1))
    assert len({r["id"] for r in index.rows()}) == 20


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"a": 1}', None),
        (b"not json", "not JSON: Expecting value at character 0"),
        (b"\xff", "the body is not UTF-8 text"),
        (b"[" * 3000 + b"]" * 3000, "the JSON is nested too deeply to pretty-print"),
    ],
)
def test_a_detail_without_body_forms_gives_the_size_and_why_not_pretty(
    log: Path, body: bytes, why: str | None
) -> None:
    write(log, event(1, body=body))
    detail = index_of(log).detail(event(1).record_id, body_forms=False)
    assert detail is not None and detail["body"] == {"size": len(body), "pretty_error": why}
