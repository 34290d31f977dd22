"""The session log: one line per request and per forward, written before the answer."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from apimw_cli.models import Verdict, VerdictCode
from apimw_cli.receiver.events import Forwarded, Received
from apimw_cli.receiver.recorder import (
    Recorder,
    encode_request,
    read_records,
    record_body,
    request_record,
)
from apimw_cli.signing import sign
from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import SECRET, Live, event_body, json_lines, received, records_of

REQUEST_KEYS = {
    "schema",
    "record",
    "id",
    "received_at",
    "method",
    "path",
    "headers",
    "body",
    "event_type",
    "delivery_id",
    "kind",
    "status",
    "duplicate",
    "verdict",
}
FORWARD_KEYS = {
    "schema",
    "record",
    "id",
    "target",
    "status",
    "ms",
    "error",
    "at",
    "response_headers",  # the app's answer (see test_recorder_answers.py)
    "response_body",
}


def test_request_line_matches_the_schema(receiver: Live) -> None:
    body = event_body()
    response = receiver.post(body, delivery="dlv_9", **{"X-APIMW-Event": "message.sent"})
    [line] = records_of(receiver.record, "request")
    assert set(line) == REQUEST_KEYS
    assert line["schema"] == 2
    assert line["id"] == receiver.received_for(response).record_id
    assert line["id"].startswith("rec_") and len(line["id"]) == 16
    int(line["id"][4:], 16)
    assert isinstance(line["received_at"], float)
    assert (line["method"], line["path"]) == ("POST", "/")
    assert line["headers"]["x-apimw-delivery"] == "dlv_9"
    assert line["body"] == body.decode() and record_body(line) == body
    assert (line["event_type"], line["delivery_id"]) == ("message.sent", "dlv_9")
    assert (line["kind"], line["status"], line["duplicate"]) == ("event", 200, False)
    assert line["verdict"] == {
        "code": "valid",
        "reason": "The signature matches the webhook secret.",
        "diagnosis": None,
        "matched_secret": 0,
    }


def test_invalid_request_line_carries_the_verdict(receiver: Live) -> None:
    receiver.post(event_body(), secret=None)
    [line] = records_of(receiver.record, "request")
    assert (line["kind"], line["status"]) == ("invalid", 401)
    assert line["verdict"]["code"] == "missing_header"


def test_forward_line_matches_the_schema(
    start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app(status=202)
    live = start_receiver(forward_to=(app.url,))
    response = live.post(event_body())
    live.sink.wait_forwarded(1)
    lines = json_lines(live.record)
    assert [r["record"] for r in lines] == ["request", "forward"]
    forward = lines[1]
    assert set(forward) == FORWARD_KEYS
    assert forward["schema"] == 2
    assert forward["id"] == live.received_for(response).record_id
    assert (forward["target"], forward["status"], forward["error"]) == (app.url, 202, None)
    assert isinstance(forward["ms"], float) and isinstance(forward["at"], float)


def test_encoded_line_is_the_request_record_as_json() -> None:
    odd = Received(
        record_id="rec_0123456789ab",
        received_at=1700000000.123456,
        method="POST",
        path='/caf\u00e9/"quoted"\\',
        headers={"x-odd": 'a "b" \\ \u00ff', "content-type": "application/json"},
        body=b"\x00\xff not json",
        status=401,
        kind="invalid",
        event_type="message.\u00e9",
        delivery_id=None,
        verdict=Verdict(VerdictCode.MISMATCH, "no match", diagnosis="re-serialised"),
        duplicate=True,
    )
    line = encode_request(odd)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == request_record(odd)


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "caf\xc3\xa9 \\"q\\" \\u00e9 \\ud83d\\ude00", "n": "\\n"}',  # UTF-8 and escapes
        "{}\r\n\t\x00\u2028 \U0001f600".encode(),  # control characters and line separators
        b"\xff\xfe not UTF-8",  # kept as base64
        b"\xed\xa0\x80",  # a UTF-8-encoded surrogate is not UTF-8 either
        b"",
    ],
)
def test_the_body_is_recorded_byte_for_byte(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "session.jsonl"
    with Recorder(path) as recorder:
        recorder.write_request(dataclasses.replace(received(1), body=body))
    assert path.read_bytes().count(b"\n") == 1  # one line, whatever the body holds
    [record] = read_records(path)
    assert record_body(record) == body
    assert ("body" in record) != ("body_b64" in record)
    assert ("body" in record) == (body != b"\xff\xfe not UTF-8" and body != b"\xed\xa0\x80")


def test_schema_1_lines_are_read_the_same(tmp_path: Path) -> None:
    body = b'{"type":"message.sent"}'
    path = tmp_path / "session.jsonl"
    old = {
        "schema": 1,
        "record": "request",
        "id": "rec_1",
        "body_b64": base64.b64encode(body).decode(),
    }
    path.write_text(json.dumps(old) + "\n")
    [record] = read_records(path)
    assert record_body(record) == body


def test_a_lone_surrogate_is_recorded_and_read_back() -> None:
    # orjson refuses lone surrogates (a body's JSON may carry one as an escape): the stdlib
    # writes that line instead, and read_records reads it back.
    odd = dataclasses.replace(received(1), event_type="message.\ud800")
    line = encode_request(odd)
    assert json.loads(line) == request_record(odd)


def test_the_recorder_writes_a_line_orjson_refuses_the_stdlibs_way(tmp_path: Path) -> None:
    verdict = Verdict(VerdictCode.MISMATCH, "no match", diagnosis="re-serialised")
    odd = dataclasses.replace(received(1), event_type="message.\ud800", verdict=verdict)
    valid = dataclasses.replace(received(0), verdict=Verdict(VerdictCode.VALID, "Signature valid."))
    with Recorder(tmp_path / "session.jsonl") as recorder:
        recorder.write_request(valid)  # orjson's way, with the verdict's JSON made once
        recorder.write_request(odd)
    first, second = read_records(tmp_path / "session.jsonl")
    assert second == request_record(odd) and first == request_record(valid)
    assert second["verdict"]["diagnosis"] == "re-serialised"


def test_read_records_reads_lines_orjson_refuses(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    path.write_bytes(b'{"schema":1,"record":"request","id":"rec_1","event_type":"a\\ud800"}\n')
    assert [r["event_type"] for r in read_records(path)] == ["a\ud800"]


def test_line_is_written_before_the_response_arrives(receiver: Live) -> None:
    for n in range(20):
        response = receiver.post(event_body(n=n))
        ids = [r["id"] for r in records_of(receiver.record, "request")]
        assert ids[-1:] == [receiver.received_for(response).record_id]


def test_read_records_tolerates_a_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    with Recorder(path) as recorder:
        recorder.write_request(received(1))
        recorder.write_request(received(2))
    with path.open("ab") as file:
        file.write(b'{"schema":1,"record":"request","id":"rec_0000')  # killed mid-write
    assert [r["id"] for r in read_records(path)] == [received(1).record_id, received(2).record_id]


def test_recorder_starts_on_a_new_line_after_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    path.write_bytes(b'{"schema":1,"record":"req')
    with Recorder(path) as recorder:
        recorder.write_request(received(3))
    assert [r["id"] for r in read_records(path)] == [received(3).record_id]


def test_recorder_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "session.jsonl"
    with Recorder(path):
        pass
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_recorder_writes_whole_lines_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    with Recorder(path) as recorder:

        def write(offset: int) -> None:
            for n in range(200):
                recorder.write_request(received(offset + n))
                recorder.write_forward(Forwarded(f"rec_{offset + n:012x}", "http://x/", 200, 1.0))

        threads = [threading.Thread(target=write, args=(i * 1000,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = json_lines(path)  # every line parses
    assert len(lines) == 4 * 200 * 2


def test_repeated_header_values_are_joined_in_the_record(receiver: Live) -> None:
    body = event_body()
    headers = [
        ("X-APIMW-Signature", sign(body, SECRET)),
        ("X-Trace", "one"),
        ("X-Trace", "two"),
    ]
    receiver.request("POST", content=body, headers=headers)
    [line] = records_of(receiver.record, "request")
    assert line["headers"]["x-trace"] == "one, two"


def test_a_forward_targets_password_never_reaches_the_log() -> None:
    from apimw_cli.receiver.events import Forwarded
    from apimw_cli.receiver.recorder import forward_record

    target = "https://app:hunter2-pass@example.com/hook"
    line = forward_record(
        Forwarded("rec_1", target, None, 1.0, f"could not connect to {target}"), at=0.0
    )
    assert line["target"] == "https://app:***@example.com/hook"
    assert "hunter2-pass" not in str(line["error"])


def test_each_line_carries_its_own_verdict_when_verdicts_alternate(tmp_path: Path) -> None:
    """The recorder keeps the fields of the last verdict it saw (one object for every valid
    event): a different verdict in between gets its own fields, and the first comes back."""
    path = tmp_path / "session.jsonl"
    valid = Verdict(VerdictCode.VALID, "Signature valid.", matched_secret=0)
    mismatch = Verdict(VerdictCode.MISMATCH, "no match", diagnosis="re-serialised")
    order = [valid, valid, mismatch, None, valid, mismatch, mismatch]
    with Recorder(path) as recorder:
        for n, verdict in enumerate(order):
            recorder.write_request(dataclasses.replace(received(n), verdict=verdict))
    written = [json.loads(line)["verdict"] for line in path.read_bytes().splitlines()]
    expected = [request_record(dataclasses.replace(received(0), verdict=v)) for v in order]
    assert written == [record["verdict"] for record in expected]
    assert written[2] == {"code": "mismatch", "reason": "no match",
                          "diagnosis": "re-serialised", "matched_secret": None}  # fmt: skip
