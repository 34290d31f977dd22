"""The index on a session log that is hostile input: lines that are not JSON, JSON of the wrong
type in every field, huge lines, deep nesting, invalid UTF-8, escape sequences. Nothing raises,
and everything the index gives back can be sent to a page as JSON (orjson, strict UTF-8)."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimw_cli.inspector import logfacts, logstore
from apimw_cli.inspector.logindex import Filters, LogIndex
from apimw_cli.models import Verdict
from apimw_cli.receiver.recorder import encode_request
from tests.receiver.support import received
from tests.support import strategies

JSON = strategies.json_values(10)
REQUEST_FIELDS = [
    "id",
    "received_at",
    "method",
    "path",
    "headers",
    "body",
    "body_b64",
    "event_type",
    "delivery_id",
    "kind",
    "status",
    "duplicate",
    "verdict",
]
FORWARD_FIELDS = [
    "id",
    "target",
    "status",
    "ms",
    "error",
    "at",
    "response_headers",
    "response_body",
    "response_body_b64",
    "response_truncated",
]
REPLAY_FIELDS = [*FORWARD_FIELDS, "of", "mode"]
ALL_FILTERS = [
    Filters(type="m*"),
    Filters(type="message.sent"),
    Filters(verdict="valid"),
    Filters(verdict="skipped"),
    Filters(forward="failed"),
    Filters(forward="pending"),
    Filters(q="a"),
    Filters(q="\u00e9"),
]


def good_request(n: int) -> dict[str, Any]:
    return {
        "schema": 2,
        "record": "request",
        "id": f"rec_{n:012x}",
        "received_at": 1700000000.5,
        "method": "POST",
        "path": "/",
        "headers": {"content-type": "application/json"},
        "body": '{"type":"message.sent"}',
        "event_type": "message.sent",
        "delivery_id": "dlv_1",
        "kind": "event",
        "status": 200,
        "duplicate": False,
        "verdict": {"code": "valid", "reason": "ok", "diagnosis": None, "matched_secret": 0},
    }


def exercise(index: LogIndex) -> None:
    """Every way of reading the index; what it gives must encode as strict JSON."""
    index.refresh()
    rows = index.rows(limit=1000)
    orjson.dumps(rows)
    for filters in ALL_FILTERS:
        orjson.dumps(index.rows(filters=filters))
    orjson.dumps(index.latest(0, 5))
    orjson.dumps(index.forward_updates(0))
    for row in rows:
        orjson.dumps(index.detail(row["id"]))
        index.body(row["id"])
        index.record(row["id"])  # raw, for replay and curl: not sent to a page as is
        index.rows(before=row["id"])


def lines(path: Path, records: list[Any], *raw: bytes) -> None:
    out = [
        json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n" for r in records
    ]
    path.write_bytes(b"".join(out) + b"".join(raw))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    request=st.fixed_dictionaries({}, optional={name: JSON for name in REQUEST_FIELDS}),
    forward=st.fixed_dictionaries({}, optional={name: JSON for name in FORWARD_FIELDS}),
    replay=st.fixed_dictionaries({}, optional={name: JSON for name in REPLAY_FIELDS}),
    ours=st.booleans(),
)
def test_fields_of_any_json_type_never_raise(
    tmp_path: Path,
    request: dict[str, Any],
    forward: dict[str, Any],
    replay: dict[str, Any],
    ours: bool,
) -> None:
    path = tmp_path / "h.jsonl"
    # `ours`: the recorder's key order (the quick way of reading a request line), or not.
    first = {**good_request(1), **request} if ours else {"record": "request", **request}
    records = [
        first,
        {"schema": 2, "record": "forward", "id": first.get("id"), **forward},
        {"schema": 2, "record": "replay", "id": "rec_r", "of": first.get("id"), **replay},
        good_request(2),
        {"schema": 2, "record": "forward", **forward},
    ]
    lines(path, records)
    exercise(LogIndex(path, live=True))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_lines_of_any_bytes_never_raise(tmp_path: Path, garbage: list[bytes]) -> None:
    path = tmp_path / "h.jsonl"
    prefix = b'{"schema":2,"record":"request","id":"'
    raw = [g.replace(b"\n", b" ") + b"\n" for g in garbage]
    raw += [prefix + g.replace(b"\n", b" ") + b"\n" for g in garbage]  # our prefix, then anything
    lines(path, [good_request(1)], *raw)
    index = LogIndex(path)
    exercise(index)
    assert index.rows()[-1]["id"] == "rec_000000000001"


def test_a_line_that_is_not_json_is_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines(path, [good_request(1)], b"not json\n", b"\xff\xfe\n", b"[1,2]\n", b"\n", b"  \n")
    index = LogIndex(path)
    index.refresh()
    assert len(index.rows()) == 1 and index.skipped == 3


def test_a_line_nested_3000_deep_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines(path, [good_request(1)], b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"\n")
    index = LogIndex(path)
    exercise(index)
    assert len(index.rows()) == 1 and index.skipped == 1


def test_a_request_whose_tail_is_crafted_is_read_the_careful_way(tmp_path: Path) -> None:
    record = good_request(1)
    record["headers"] = {"event_type": "x", ',"event_type":': "y"}
    record["body"] = ',"event_type":"fake","kind":"event"}'
    record["verdict"] = {"code": ',"event_type":"z"', "reason": '"}'}
    path = tmp_path / "h.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    index = LogIndex(path)
    index.refresh()
    [row] = index.rows()
    assert row["event_type"] == "message.sent" and row["verdict"] == ',"event_type":"z"'
    assert index.body(row["id"]) == record["body"].encode()


def test_huge_text_is_cut_in_rows_but_exact_in_the_body(tmp_path: Path) -> None:
    record = good_request(1)
    record["event_type"] = "t" * 100_000
    record["path"] = "/" + "p" * 100_000
    record["body"] = "b" * 2_000_000
    path = tmp_path / "h.jsonl"
    lines(path, [record])
    index = LogIndex(path)
    index.refresh()
    [row] = index.rows()
    assert len(row["event_type"]) == 200 and len(row["path"]) == 200
    assert index.body(row["id"]) == record["body"].encode()
    detail = index.detail(row["id"])
    assert detail is not None and detail["body"]["pretty"] is None  # over the pretty-print limit


def test_a_line_past_the_limit_is_skipped_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logstore, "MAX_LINE", 5000)
    monkeypatch.setattr(logstore, "CHUNK", 1024)
    big = {**good_request(2), "body": "x" * 20_000}
    path = tmp_path / "h.jsonl"
    lines(path, [good_request(1), big, good_request(3)])
    index = LogIndex(path)
    index.refresh()
    assert [r["id"][-1] for r in index.rows()] == ["3", "1"] and index.skipped == 1


def test_escape_sequences_and_lone_surrogates_come_back_as_text(tmp_path: Path) -> None:
    record = good_request(1)
    record["event_type"] = "\x1b[31mred\x1b[0m <script>alert(1)</script>"
    record["headers"] = {"x-evil": "\x1b]0;title\x07", "x-lone": "a\ud800b"}
    record["body"] = '{"t":"\\u001b[2J <b>"}'
    record["delivery_id"] = "d\udfff"
    path = tmp_path / "h.jsonl"
    lines(path, [record])
    index = LogIndex(path)
    exercise(index)
    [row] = index.rows()
    assert row["event_type"] == record["event_type"]  # as text: the page renders it as text
    detail = index.detail(row["id"])
    assert detail is not None
    assert ["x-evil", "\x1b]0;title\x07"] in detail["headers"]
    assert ["x-lone", "a\ufffdb"] in detail["headers"]
    assert row["delivery_id"] == "d\ufffd"
    assert detail["body"]["pretty"] == '{\n  "t": "\\u001b[2J <b>"\n}'


def test_a_body_b64_that_is_not_base64_has_no_body_and_says_why(tmp_path: Path) -> None:
    record = good_request(1)
    del record["body"]
    record["body_b64"] = "not base64!"
    path = tmp_path / "h.jsonl"
    lines(path, [record])
    index = LogIndex(path)
    index.refresh()
    detail = index.detail(index.rows()[0]["id"])
    assert detail is not None and detail["body"] is None and detail["size"] is None
    assert detail["body_error"] == "the recorded body is neither UTF-8 text nor valid base64"


def test_ids_seen_twice_or_not_text_get_ids_of_their_own(tmp_path: Path) -> None:
    records = [
        good_request(1),
        good_request(1),
        {**good_request(2), "id": 5},
        {**good_request(3), "id": "x" * 500},
    ]
    forward = {
        "schema": 2,
        "record": "forward",
        "id": "rec_000000000001",
        "target": "t",
        "status": 200,
        "ms": 1.0,
        "error": None,
        "at": 1.0,
    }
    path = tmp_path / "h.jsonl"
    lines(path, [*records, forward])
    index = LogIndex(path)
    index.refresh()
    rows = index.rows()
    assert [r["id"] for r in rows] == ["line-4", "line-3", "rec_000000000001~2", "rec_000000000001"]
    assert len({r["id"] for r in rows}) == 4
    assert rows[2]["forwards"] and not rows[3]["forwards"]  # the last request of that id
    assert base64.b64encode(index.body("line-3") or b"") == base64.b64encode(
        b'{"type":"message.sent"}'
    )


TEXT = st.one_of(
    st.none(), st.text(max_size=250), st.sampled_from(["message.sent", "dlv_1", "a\\b"])
)


@settings(max_examples=300, deadline=None)
@given(
    event_type=TEXT,
    delivery_id=TEXT,
    kind=st.sampled_from(["event", "challenge", "invalid", "rejected", "other"]),
    status=st.integers(min_value=0, max_value=100_000),
    duplicate=st.booleans(),
    code=st.one_of(st.none(), st.text(max_size=70), st.sampled_from(["valid", "mismatch"])),
    body=st.text(max_size=50),
)
def test_the_quick_reading_of_a_line_agrees_with_parsing_it(
    event_type: str | None,
    delivery_id: str | None,
    kind: str,
    status: int,
    duplicate: bool,
    code: str | None,
    body: str,
) -> None:
    rec = dataclasses.replace(
        received(1),
        event_type=event_type,
        delivery_id=delivery_id,
        kind=kind,
        status=status,
        duplicate=duplicate,
        body=body.encode("utf-8", "surrogatepass"),
        verdict=None if code is None else Verdict(code, "r"),  # type: ignore[arg-type]
    )
    line = encode_request(rec)[:-1]
    tail = line.rfind(logfacts.TAIL_KEY)
    parsed = logfacts.facts_from_record(json.loads(line))
    assert logfacts.facts_at(line, tail, len(line)) == parsed
    found, delivery = logfacts.delivery_at(line, 0, len(line))
    if found:  # else the line is parsed
        assert delivery == parsed.delivery_id
