"""The record/report step builds each `Received` by position (it runs for every request): every
field lands where its name says, whatever order the dataclass declares them in."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from apimw_cli.models import Forwarded, Received, Verdict, VerdictCode
from apimw_cli.receiver.recorder import Recorder, read_records, record_body
from apimw_cli.receiver.report import Arrival, Reporter
from apimw_cli.receiver.seen import Seen

VERDICT = Verdict(VerdictCode.MISMATCH, "does not match", "re-encoded", None)


def test_every_field_lands_under_its_own_name(tmp_path: Path) -> None:
    sunk: list[Received | Forwarded] = []
    headers = {"x-apimw-delivery": "dlv_7", "content-type": "application/json"}
    arrival = Arrival("rec_1", 1700000000.5, "PUT", "/hooks", headers)
    with Recorder(tmp_path / "log.jsonl") as recorder:
        received, where = Reporter(recorder, sunk.append).report(
            arrival, 202, "invalid", b'{"type":"message.sent"}',
            event_type="message.sent", verdict=VERDICT, duplicate=True, filtered=False,
            note="a note", locate=True, prior=Seen(2, True, 503), strict_json=True,
        )  # fmt: skip
    expected = {
        "record_id": "rec_1", "received_at": 1700000000.5, "method": "PUT", "path": "/hooks",
        "headers": headers, "body": b'{"type":"message.sent"}', "status": 202, "kind": "invalid",
        "event_type": "message.sent", "delivery_id": "dlv_7", "verdict": VERDICT,
        "duplicate": True, "filtered": False, "note": "a note", "record_error": None,
        "attempt": 3, "previous_status": 503, "strict_json": True,
    }  # fmt: skip
    assert {f.name for f in dataclasses.fields(Received)} == set(expected)
    assert {name: getattr(received, name) for name in expected} == expected
    assert sunk == [received] and where is not None
    [line] = read_records(tmp_path / "log.jsonl")
    assert (line["id"], line["method"], line["path"], line["kind"]) == (
        "rec_1",
        "PUT",
        "/hooks",
        "invalid",
    )
    assert (line["status"], line["duplicate"], line["delivery_id"]) == (202, True, "dlv_7")
    assert record_body(line) == b'{"type":"message.sent"}'


def test_a_first_delivery_has_attempt_one_and_no_previous_status() -> None:
    arrival = Arrival("rec_2", 1.0, "POST", "/", {})
    received, where = Reporter(None, lambda _record: None).report(arrival, 200, "event")
    assert (received.attempt, received.previous_status, received.delivery_id) == (1, None, None)
    assert (received.body, received.filtered, received.strict_json, where) == (
        b"",
        False,
        False,
        None,
    )
